"""Tests for mg.edges.Sequential, through GraphBuilder."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg

ET = ("text", "intra", "text")


def _graph(n, window, attr="offset"):
    builder = mg.GraphBuilder(intra={"text": mg.edges.Sequential(window, attr=attr)})
    return builder(mg.MultimodalSample(text=torch.arange(n, dtype=torch.float).unsqueeze(1) + 1))


@pytest.mark.parametrize(
    "n, window, pairs",
    [
        (3, 1, [(0, 1), (1, 0), (1, 2), (2, 1)]),
        (4, 1, [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]),
        (4, 2, [(0, 1), (0, 2), (1, 0), (1, 2), (1, 3), (2, 0), (2, 1), (2, 3), (3, 1), (3, 2)]),
        (2, 4, [(0, 1), (1, 0)]),
        (1, 1, []),
    ],
    ids=["n3-w1", "n4-w1", "n4-w2", "window-beyond-length", "single-element"],
)
def test_edges_and_attributes_by_hand(n, window, pairs):
    store = _graph(n, window)[ET]
    assert store.edge_index.dtype == torch.long
    assert store.edge_index.shape == (2, len(pairs))
    assert [tuple(e) for e in store.edge_index.t().tolist()] == pairs
    assert store.edge_attr.shape == (len(pairs), 1)
    assert store.edge_attr.dtype == torch.float32
    assert store.edge_attr.squeeze(1).tolist() == [(i - j) / window for i, j in pairs]


def test_window_two_attribute_values():
    attr = _graph(3, 2)[ET].edge_attr.squeeze(1).tolist()
    # edges (0,1) (0,2) (1,0) (1,2) (2,0) (2,1)
    assert attr == [-0.5, -1.0, 0.5, -0.5, 1.0, 0.5]


@pytest.mark.parametrize("n, window", [(3, 1), (4, 2), (5, 3), (2, 4)])
def test_onehot_attributes_by_hand(n, window):
    store = _graph(n, window, attr="onehot")[ET]
    offsets = [-window + k for k in range(window)] + [k + 1 for k in range(window)]
    assert store.edge_attr.shape == (store.edge_index.size(1), 2 * window)
    assert store.edge_attr.dtype == torch.float32
    assert (store.edge_attr.sum(1) == 1).all()
    for (i, j), row in zip(store.edge_index.t().tolist(), store.edge_attr):
        assert offsets[int(row.argmax())] == i - j


def test_onehot_window_two_columns():
    attr = _graph(3, 2, attr="onehot")[ET].edge_attr.argmax(1).tolist()
    # edges (0,1) (0,2) (1,0) (1,2) (2,0) (2,1): offsets -1 -2 1 -1 2 1 -> columns of -2, -1, 1, 2
    assert attr == [1, 0, 2, 1, 3, 2]


def test_onehot_schema_and_repr():
    s = mg.edges.Sequential(2, attr="onehot")
    assert s.edge_dim == 4 and s.attr == "onehot"
    assert repr(s) == "Sequential(window=2, attr='onehot')"
    assert mg.GraphBuilder(intra={"text": s}).edge_types(["text"])[ET] == 4


@pytest.mark.parametrize("attr", ["signed", None, 1])
def test_invalid_attr(attr):
    with pytest.raises(ValueError, match=r"Sequential:.*attr.*\['offset'.*'onehot'\]"):
        mg.edges.Sequential(2, attr=attr)


def test_batched_sequences_do_not_link_padding_or_other_samples():
    builder = mg.GraphBuilder(intra={"text": mg.edges.Sequential(1)})
    samples = [mg.MultimodalSample(text=torch.ones(n, 2)) for n in (3, 1, 2)]
    g = builder.batch(samples)
    # node offsets 0, 3, 4: sample 0 -> 0-1-2, sample 1 -> none, sample 2 -> 4-5
    assert g[ET].edge_index.tolist() == [[0, 1, 1, 2, 4, 5], [1, 0, 2, 1, 5, 4]]
    assert g[ET].edge_attr.squeeze(1).tolist() == [-1.0, 1.0, -1.0, 1.0, -1.0, 1.0]


def test_schema_flags():
    s = mg.edges.Sequential(3)
    assert s.edge_dim == 1 and s.intra_only and s.requires == ()
    assert s.window == 3 and s.attr == "offset"
    assert repr(s) == "Sequential(window=3)"


@pytest.mark.parametrize("window", [0, -1, 1.5, True, "2", None])
def test_invalid_window(window):
    with pytest.raises(ValueError, match=rf"^Sequential: window must be a positive int, got {window!r}$".replace("(", r"\(")):
        mg.edges.Sequential(window)
