"""Tests for mg.edges.Full (complete links, optional pos/time attributes), through GraphBuilder."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg


def _pairs(store):
    return [tuple(e) for e in store.edge_index.t().tolist()]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_intra_links_every_pair_without_self_loops(n):
    builder = mg.GraphBuilder(intra={"text": mg.edges.Full()})
    store = builder(mg.MultimodalSample(text=torch.ones(n, 2)))["text", "intra", "text"]
    assert _pairs(store) == [(i, j) for i in range(n) for j in range(n) if i != j]
    assert "edge_attr" not in store


def test_cross_links_every_pair_both_ways():
    builder = mg.GraphBuilder(cross={("image", "text"): mg.edges.Full()})
    g = builder(mg.MultimodalSample(image=torch.ones(2, 2), text=torch.ones(3, 5)))
    assert _pairs(g["image", "cross", "text"]) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert _pairs(g["text", "cross", "image"]) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert "edge_attr" not in g["image", "cross", "text"]
    assert "edge_attr" not in g["text", "cross", "image"]


def test_batched_full_does_not_cross_samples():
    builder = mg.GraphBuilder(intra={"text": mg.edges.Full()})
    g = builder.batch([mg.MultimodalSample(text=torch.ones(n, 1)) for n in (2, 1, 3)])
    # offsets 0, 2, 3
    assert _pairs(g["text", "intra", "text"]) == [(0, 1), (1, 0), (3, 4), (3, 5), (4, 3), (4, 5), (5, 3), (5, 4)]


def test_intra_pos_attribute():
    builder = mg.GraphBuilder(intra={"image": mg.edges.Full(attr="pos")})
    sample = mg.MultimodalSample(image=mg.Modality(torch.ones(2, 1), pos=[[0, 0], [3, 4]]))
    store = builder(sample)["image", "intra", "image"]
    assert _pairs(store) == [(0, 1), (1, 0)]
    assert store.edge_attr.tolist() == [[-3, -4, 5], [3, 4, 5]]


def test_cross_pos_attribute_reverses_sign():
    builder = mg.GraphBuilder(cross={("image", "text"): mg.edges.Full(attr="pos")})
    sample = mg.MultimodalSample(
        image=mg.Modality(torch.ones(2, 1), pos=[[0, 0], [3, 4]]),
        text=mg.Modality(torch.ones(1, 1), pos=[[3, 0]]),
    )
    g = builder(sample)
    assert _pairs(g["image", "cross", "text"]) == [(0, 0), (1, 0)]
    assert g["image", "cross", "text"].edge_attr.tolist() == [[-3, 0, 3], [0, 4, 4]]
    assert _pairs(g["text", "cross", "image"]) == [(0, 0), (0, 1)]
    assert g["text", "cross", "image"].edge_attr.tolist() == [[3, 0, 3], [0, -4, 4]]


def test_cross_time_attribute_by_hand():
    builder = mg.GraphBuilder(cross={("text", "audio"): mg.edges.Full(attr="time")})
    sample = mg.MultimodalSample(
        text=mg.Modality(torch.ones(2, 1), time=[[0, 2], [1, 3]]),
        audio=mg.Modality(torch.ones(2, 1), time=[[1, 3], [5, 5]]),
    )
    g = builder(sample)
    fwd, rev = g["text", "cross", "audio"], g["audio", "cross", "text"]
    assert _pairs(fwd) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # [centre_src - centre_dst, IoU]: [0,2] vs [1,3] -> (-1, 1/3); [0,2] vs [5,5] -> (-4, 0);
    # [1,3] vs [1,3] -> (0, 1); [1,3] vs [5,5] -> (-3, 0)
    assert torch.allclose(fwd.edge_attr, torch.tensor([[-1, 1 / 3], [-4, 0], [0, 1], [-3, 0]]))
    assert _pairs(rev) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert torch.allclose(rev.edge_attr, torch.tensor([[1, 1 / 3], [0, 1], [4, 0], [3, 0]]))


def test_time_attribute_of_instants():
    builder = mg.GraphBuilder(intra={"audio": mg.edges.Full(attr="time")})
    store = builder(mg.MultimodalSample(audio=mg.Modality(torch.ones(3, 1), time=[1.0, 1.0, 2.0])))["audio", "intra", "audio"]
    assert _pairs(store) == [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    # identical instants have IoU 1; distinct instants IoU 0
    assert store.edge_attr.tolist() == [[0, 1], [-1, 0], [0, 1], [-1, 0], [1, 0], [1, 0]]


@pytest.mark.parametrize(
    "kwargs, edge_dim, requires, text",
    [
        ({}, 0, (), "Full()"),
        ({"attr": "pos"}, 3, ("pos",), "Full(attr='pos')"),
        ({"attr": "pos", "pos_dim": 3}, 4, ("pos",), "Full(attr='pos')"),
        ({"attr": "time"}, 2, ("time",), "Full(attr='time')"),
    ],
)
def test_schema_and_repr(kwargs, edge_dim, requires, text):
    s = mg.edges.Full(**kwargs)
    assert s.edge_dim == edge_dim and s.requires == requires and not s.intra_only
    assert repr(s) == text


def test_three_dimensional_pos_attribute():
    builder = mg.GraphBuilder(intra={"image": mg.edges.Full(attr="pos", pos_dim=3)})
    store = builder(mg.MultimodalSample(image=mg.Modality(torch.ones(2, 1), pos=[[0, 0, 0], [0, 0, 2]])))[
        "image", "intra", "image"
    ]
    assert store.edge_attr.tolist() == [[0, 0, -2, 2], [0, 0, 2, 2]]


@pytest.mark.parametrize("attr", ["dist", "Pos", 1])
def test_invalid_attr(attr):
    with pytest.raises(ValueError, match=r"^Full: attr must be one of \[None, 'pos', 'time'\], got " + repr(attr) + "$"):
        mg.edges.Full(attr=attr)


@pytest.mark.parametrize("attr", ["pos", "time"])
def test_missing_metadata_names_modality_and_strategy(attr):
    builder = mg.GraphBuilder(cross={("image", "text"): mg.edges.Full(attr=attr)})
    meta = {"pos": [[0.0, 0.0]]} if attr == "pos" else {"time": [0.0]}
    sample = mg.MultimodalSample(image=mg.Modality(torch.ones(1, 1)), text=mg.Modality(torch.ones(1, 1), **meta))
    with pytest.raises(ValueError, match=rf"^Full\(attr='{attr}'\) on \('image', 'text'\) needs {attr} for modality "
                                         rf"'image', which has none"):
        builder(sample)


def test_pos_dim_mismatch():
    builder = mg.GraphBuilder(intra={"image": mg.edges.Full(attr="pos")})
    with pytest.raises(ValueError, match=r"^Full\(attr='pos'\) expects pos of dimension 2 for modality 'image', got 3; "
                                         r"pass pos_dim=3$"):
        builder(mg.MultimodalSample(image=mg.Modality(torch.ones(2, 1), pos=torch.zeros(2, 3))))


def test_no_attr_needs_no_metadata():
    builder = mg.GraphBuilder(intra={"image": mg.edges.Full(attr=None)})
    g = builder(mg.MultimodalSample(image=mg.Modality(torch.ones(2, 1), pos=torch.zeros(2, 3))))
    assert g["image", "intra", "image"].num_edges == 2
