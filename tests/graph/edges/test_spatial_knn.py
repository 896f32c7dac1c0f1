"""Tests for mg.edges.SpatialKNN, through GraphBuilder, on hand-placed positions."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg

INTRA = ("image", "intra", "image")
I2T, T2I = ("image", "cross", "text"), ("text", "cross", "image")


def _image(pos):
    pos = torch.as_tensor(pos, dtype=torch.float)
    return mg.Modality(torch.ones(pos.size(0), 2), pos=pos)


def _intra(pos, k, **kw):
    builder = mg.GraphBuilder(intra={"image": mg.edges.SpatialKNN(k=k, **kw)})
    return builder(mg.MultimodalSample(image=_image(pos)))[INTRA]


def _pairs(store):
    return [tuple(e) for e in store.edge_index.t().tolist()]


LINE = [[0, 0], [1, 0], [3, 0], [7, 0]]


def test_line_k1_by_hand():
    store = _intra(LINE, k=1)
    # target 0 <- 1, 1 <- 0, 2 <- 1 (2 < 4), 3 <- 2
    assert _pairs(store) == [(0, 1), (1, 0), (1, 2), (2, 3)]
    assert store.edge_attr.tolist() == [[-1, 0, 1], [1, 0, 1], [-2, 0, 2], [-4, 0, 4]]


def test_line_k2_by_hand():
    store = _intra(LINE, k=2)
    assert _pairs(store) == [(0, 1), (0, 2), (1, 0), (1, 2), (1, 3), (2, 0), (2, 1), (2, 3)]
    assert store.edge_attr.tolist() == [
        [-1, 0, 1], [-3, 0, 3], [1, 0, 1], [-2, 0, 2], [-6, 0, 6], [3, 0, 3], [2, 0, 2], [-4, 0, 4],
    ]


@pytest.mark.parametrize("k", [3, 10])
def test_k_at_least_number_of_others_links_all_pairs(k):
    store = _intra([[0, 0], [1, 0], [5, 5], [2, 2]], k=k)
    assert _pairs(store) == [(i, j) for i in range(4) for j in range(4) if i != j]


def test_k_larger_than_others_with_one_node_gives_no_edges():
    store = _intra([[0.5, 0.5]], k=3)
    assert store.edge_index.shape == (2, 0) and store.edge_attr.shape == (0, 3)


def test_ties_break_to_lower_index_2x2_grid():
    # 0=(0,0) 1=(0,1) 2=(1,0) 3=(1,1)
    store = _intra([[0, 0], [0, 1], [1, 0], [1, 1]], k=1)
    # target 0: 1 and 2 tie -> 1; target 1: 0 and 3 tie -> 0; target 2: 0 and 3 -> 0; target 3: 1 and 2 -> 1
    assert _pairs(store) == [(0, 1), (0, 2), (1, 0), (1, 3)]
    assert store.edge_attr.tolist() == [[0, -1, 1], [-1, 0, 1], [0, 1, 1], [-1, 0, 1]]


def test_ties_break_to_lower_index_3x3_grid():
    pos = [[r, c] for r in range(3) for c in range(3)]  # node 3*r + c
    store = _intra(pos, k=2)
    sources = {j: sorted(i for i, jj in _pairs(store) if jj == j) for j in range(9)}
    assert sources == {0: [1, 3], 1: [0, 2], 2: [1, 5], 3: [0, 4], 4: [1, 3], 5: [2, 4], 6: [3, 7], 7: [4, 6], 8: [5, 7]}


def test_three_dimensional_positions():
    store = _intra([[0, 0, 0], [0, 0, 2], [0, 3, 0]], k=1, pos_dim=3)
    assert _pairs(store) == [(0, 1), (0, 2), (1, 0)]
    assert store.edge_attr.tolist() == [[0, 0, -2, 2], [0, -3, 0, 3], [0, 0, 2, 2]]


def _cross(k, image_pos=((0, 0), (4, 0), (10, 0)), text_pos=((1, 0), (9, 0))):
    builder = mg.GraphBuilder(cross={("image", "text"): mg.edges.SpatialKNN(k=k)})
    text = mg.Modality(torch.zeros(len(text_pos), 3), pos=torch.tensor(text_pos, dtype=torch.float))
    return builder(mg.MultimodalSample(image=_image(image_pos), text=text))


def test_cross_modal_k1_by_hand():
    g = _cross(1)
    assert _pairs(g[I2T]) == [(0, 0), (2, 1)]
    assert g[I2T].edge_attr.tolist() == [[-1, 0, 1], [1, 0, 1]]
    assert _pairs(g[T2I]) == [(0, 0), (1, 2)]
    assert g[T2I].edge_attr.tolist() == [[1, 0, 1], [-1, 0, 1]]


def test_cross_modal_k2_by_hand():
    g = _cross(2)
    # text 0 at x=1 <- image 0 (1), image 1 (3); text 1 at x=9 <- image 2 (1), image 1 (5)
    assert _pairs(g[I2T]) == [(0, 0), (1, 0), (1, 1), (2, 1)]
    assert g[I2T].edge_attr.tolist() == [[-1, 0, 1], [3, 0, 3], [-5, 0, 5], [1, 0, 1]]
    assert _pairs(g[T2I]) == [(0, 0), (0, 1), (1, 1), (1, 2)]
    assert g[T2I].edge_attr.tolist() == [[1, 0, 1], [-3, 0, 3], [5, 0, 5], [-1, 0, 1]]


def test_cross_modal_keeps_equal_index_and_zero_distance_pairs():
    g = _cross(1, image_pos=((2, 2), (0, 0)), text_pos=((0, 0), (2, 2), (2, 3)))
    # text 0 <- image 1, text 1 <- image 0 (distance 0), text 2 <- image 0
    assert _pairs(g[I2T]) == [(0, 1), (0, 2), (1, 0)]
    assert g[I2T].edge_attr.tolist() == [[0, 0, 0], [0, -1, 1], [0, 0, 0]]


def test_cross_modal_k_larger_than_sources():
    g = _cross(5)
    assert _pairs(g[I2T]) == [(i, j) for i in range(3) for j in range(2)]
    assert g[T2I].num_edges == 6


def test_schema_and_repr():
    s = mg.edges.SpatialKNN(k=3)
    assert s.edge_dim == 3 and s.requires == ("pos",) and not s.intra_only
    assert mg.edges.SpatialKNN(k=2, pos_dim=3).edge_dim == 4
    assert repr(s) == "SpatialKNN(k=3)"
    assert repr(mg.edges.SpatialKNN(k=2, pos_dim=3)) == "SpatialKNN(k=2, pos_dim=3)"


@pytest.mark.parametrize("k", [0, -2, 1.5, True, None])
def test_invalid_k(k):
    with pytest.raises(ValueError, match=r"^SpatialKNN: k must be a positive int, got " + repr(k) + "$"):
        mg.edges.SpatialKNN(k=k)


@pytest.mark.parametrize("pos_dim", [0, -1, 2.0])
def test_invalid_pos_dim(pos_dim):
    with pytest.raises(ValueError, match=r"^SpatialKNN: pos_dim must be a positive int, got " + repr(pos_dim) + "$"):
        mg.edges.SpatialKNN(k=1, pos_dim=pos_dim)


def test_missing_pos_names_modality_and_strategy():
    builder = mg.GraphBuilder(cross={("image", "text"): mg.edges.SpatialKNN(k=2)})
    sample = mg.MultimodalSample(image=_image([[0, 0]]), text=torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"^SpatialKNN\(k=2\) on \('image', 'text'\) needs pos for modality 'text', "
                                         r"which has none: pass Modality\(x, pos=\.\.\.\)$"):
        builder(sample)


def test_pos_dim_mismatch_names_modality():
    builder = mg.GraphBuilder(intra={"image": mg.edges.SpatialKNN(k=1)})
    with pytest.raises(ValueError, match=r"^SpatialKNN\(k=1\) expects pos of dimension 2 for modality 'image', got 3; "
                                         r"pass pos_dim=3$"):
        builder(mg.MultimodalSample(image=_image([[0, 0, 0], [1, 1, 1]])))


# --------------------------------------------------------------------------------------
# Distances must be exact for any number of elements and any amount of padding
# --------------------------------------------------------------------------------------
def test_nearest_neighbour_is_exact_with_more_than_25_elements():
    pos = torch.zeros(26, 2)
    pos[3:] = torch.stack([torch.linspace(0, 1, 23), torch.ones(23)], 1)  # far away, on the line y = 1
    pos[0] = torch.tensor([0.9, 0.9])
    pos[1] = pos[0] + torch.tensor([6e-4, 0.0])  # 0.0006 from node 0
    pos[2] = pos[0] - torch.tensor([0.0, 5e-4])  # 0.0005 from node 0: the nearest
    store = _intra(pos, k=1)
    assert [i for i, j in _pairs(store) if j == 0] == [2]


def test_padding_beyond_25_elements_does_not_change_a_small_sample():
    centres = (torch.arange(5, dtype=torch.float) + 0.5) / 5  # 5 x 5 region centres 0.1 ... 0.9
    grid = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), -1).reshape(-1, 2)
    small = mg.MultimodalSample(image=_image(grid))
    big = mg.MultimodalSample(image=_image(torch.rand(30, 2, generator=torch.Generator().manual_seed(0))))
    builder = mg.GraphBuilder(intra={"image": mg.edges.SpatialKNN(k=2)})
    alone = builder(small)[INTRA]
    in_batch = builder.batch([small, big]).get_example(0)[INTRA]
    assert torch.equal(in_batch.edge_index, alone.edge_index)
    assert torch.equal(in_batch.edge_attr, alone.edge_attr)
