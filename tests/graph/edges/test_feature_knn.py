"""Tests for mg.edges.FeatureKNN (cosine similarity), through GraphBuilder, on hand-made vectors."""

from __future__ import annotations

import math

import pytest
import torch

import mmgraph as mg

ET = ("text", "intra", "text")
I2T, T2I = ("image", "cross", "text"), ("text", "cross", "image")
R = 1 / math.sqrt(2)


def _intra(vectors, k):
    builder = mg.GraphBuilder(intra={"text": mg.edges.FeatureKNN(k=k)})
    return builder(mg.MultimodalSample(text=torch.tensor(vectors, dtype=torch.float)))[ET]


def _pairs(store):
    return [tuple(e) for e in store.edge_index.t().tolist()]


def test_k1_uses_cosine_not_dot_product_and_excludes_self():
    # cos(0,1) = 0.707, cos(0,2) = 1, cos(1,2) = 0.707; a dot product would link 1 -> 0 (5 > 3)
    store = _intra([[1, 0], [5, 5], [3, 0]], k=1)
    # target 0 <- 2 (cos 1); target 1 <- 0 (tie with 2, lower index); target 2 <- 0 (cos 1)
    assert _pairs(store) == [(0, 1), (0, 2), (2, 0)]
    assert store.edge_attr.shape == (3, 1)
    assert store.edge_attr.squeeze(1).tolist() == pytest.approx([R, 1.0, 1.0])


def test_k2_by_hand():
    store = _intra([[1, 0], [0, 1], [1, 1], [-1, 0]], k=2)
    # target 0 <- 2, 1; target 1 <- 2, 0 (0 and 3 tie at cos 0); target 2 <- 0, 1; target 3 <- 1, 2
    assert _pairs(store) == [(0, 1), (0, 2), (1, 0), (1, 2), (1, 3), (2, 0), (2, 1), (2, 3)]
    assert store.edge_attr.squeeze(1).tolist() == pytest.approx([0, R, 0, R, 0, R, R, -R], abs=1e-6)


def test_identical_vectors_do_not_link_to_themselves():
    store = _intra([[1, 1], [1, 1], [-1, 2]], k=1)
    # every node's best match is itself (cos 1), which must be skipped
    # target 0 <- 1, target 1 <- 0 (cos 1), target 2 <- 0 (0 and 1 tie at 1/sqrt(10))
    assert _pairs(store) == [(0, 1), (0, 2), (1, 0)]
    assert store.edge_attr.squeeze(1).tolist() == pytest.approx([1.0, 1 / math.sqrt(10), 1.0])


@pytest.mark.parametrize("k", [2, 7])
def test_k_at_least_number_of_others_links_all_pairs(k):
    store = _intra([[1, 0], [0, 1], [1, 1]], k=k)
    assert _pairs(store) == [(i, j) for i in range(3) for j in range(3) if i != j]


def _cross(k, text_vectors=((1, 0), (0, 2), (-1, 0))):
    builder = mg.GraphBuilder(cross={("image", "text"): mg.edges.FeatureKNN(k=k)})
    sample = mg.MultimodalSample(image=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
                                 text=torch.tensor(text_vectors, dtype=torch.float))
    return builder(sample)


def test_cross_modal_by_hand():
    g = _cross(1)
    # text 0 <- image 0 (cos 1), text 1 <- image 1 (cos 1), text 2 <- image 1 (cos 0 > -1)
    assert _pairs(g[I2T]) == [(0, 0), (1, 1), (1, 2)]
    assert g[I2T].edge_attr.squeeze(1).tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert _pairs(g[T2I]) == [(0, 0), (1, 1), (2, 1)]
    assert g[T2I].edge_attr.squeeze(1).tolist() == pytest.approx([1.0, 1.0, 0.0])


def test_cross_modal_k_larger_than_sources():
    g = _cross(3)
    assert _pairs(g[I2T]) == [(i, j) for i in range(2) for j in range(3)]
    assert g[T2I].num_edges == 6


def test_cross_modal_dimension_mismatch():
    builder = mg.GraphBuilder(cross={("image", "text"): mg.edges.FeatureKNN(k=1)})
    sample = mg.MultimodalSample(image=torch.ones(2, 2), text=torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"^FeatureKNN\(k=1\) compares features of 'image' and 'text', which need "
                                         r"the same dimension; got 2 and 3$"):
        builder(sample)


def test_schema_and_repr():
    s = mg.edges.FeatureKNN(k=5)
    assert s.edge_dim == 1 and s.requires == () and not s.intra_only
    assert repr(s) == "FeatureKNN(k=5)"


@pytest.mark.parametrize("k", [0, -1, 2.5, False, "3"])
def test_invalid_k(k):
    with pytest.raises(ValueError, match=r"^FeatureKNN: k must be a positive int, got " + repr(k) + "$"):
        mg.edges.FeatureKNN(k=k)


def test_padding_does_not_change_ties():
    # Nodes 3 and 4 are both exactly orthogonal to node 0, so target 0 takes node 2 (cos 0.87) and then
    # node 3 (the tie goes to the lower index), however much padding the batch adds.
    x = torch.tensor([[0.0, 1.0, -1.0], [-2.0, -1.0, 2.0], [1.0, 2.0, -1.0], [-1.0, 1.0, 1.0], [-1.0, -2.0, -2.0]])
    small = mg.MultimodalSample(text=x)
    builder = mg.GraphBuilder(intra={"text": mg.edges.FeatureKNN(k=2)})
    alone = builder(small)[ET]
    assert sorted(i for i, j in _pairs(alone) if j == 0) == [2, 3]
    in_batch = builder.batch([small, mg.MultimodalSample(text=torch.ones(40, 3))]).get_example(0)[ET]
    assert sorted(i for i, j in _pairs(in_batch) if j == 0) == [2, 3]
    assert torch.equal(in_batch.edge_index, alone.edge_index)
