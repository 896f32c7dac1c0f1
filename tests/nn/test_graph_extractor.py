"""GraphExtractor: an extractor plus a GNN over each item's elements, computed once per distinct item."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import mmgraph as mg
from mmgraph.data.raw import RawModality
from mmgraph.nn import GraphExtractor, GridCNN


def _images(k: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (k, 3, 32, 32), generator=g, dtype=torch.uint8)


def _extractor(**kw) -> GraphExtractor:
    torch.manual_seed(0)
    opts = dict(hidden=8, out_dim=6, select_heads=2)
    opts.update(kw)
    return GraphExtractor(GridCNN(channels=(4, 4, 4)), mg.edges.Full(attr="pos"), **opts).eval()


@pytest.mark.parametrize("num_layers", [1, 2])
def test_shared_items_equal_separate_items(num_layers: int) -> None:
    ex = _extractor(num_layers=num_layers)
    data, index = _images(3), torch.tensor([2, 0, 0, 1, 2])
    shared = ex(RawModality(data, index))
    separate = ex(RawModality(data[index], torch.arange(5)))
    assert shared.x.shape == (5, 16, 6) and shared.pos.shape == (5, 16, 2) and shared.mask.all()
    torch.testing.assert_close(shared.x, separate.x)
    torch.testing.assert_close(shared.pos, separate.pos)


def test_messages_mix_the_elements_of_one_item_only() -> None:
    ex = _extractor()
    data = _images(2)
    base = ex(RawModality(data, torch.tensor([0, 1]))).x
    changed = data.clone()
    changed[0, :, :8, :8] = 255 - changed[0, :, :8, :8]  # one corner of image 0
    out = ex(RawModality(changed, torch.tensor([0, 1]))).x
    assert not torch.allclose(out[0, -1], base[0, -1])  # a far region of image 0 sees the change
    torch.testing.assert_close(out[1], base[1])  # image 1 does not


def test_gradients_reach_the_cnn_and_repr() -> None:
    ex = _extractor().train()
    ex(RawModality(_images(2), torch.tensor([0, 1, 1]))).x.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ex.extractor.parameters())
    assert repr(ex).startswith("GraphExtractor(GridCNN(") and "out_dim=6" in repr(ex)
    assert ex.out_dim == 6 and _extractor(out_dim=None).out_dim == 8


def test_inside_a_graph_fusion_model() -> None:
    ex = _extractor()
    model = mg.nn.GraphFusionModel({"image": ex.out_dim, "question": 5}, 16, 3, extractors={"image": ex})
    q = mg.ModalityBatch(torch.randn(4, 2, 5), name="question")
    batch = mg.MultimodalBatch({"question": q}, raw={"image": RawModality(_images(2), torch.tensor([0, 0, 1, 1]))})
    assert model(batch).shape == (4, 3)


def test_errors() -> None:
    with pytest.raises(ValueError, match="extractor.*needs.*positive.*out_dim.*attribute"):
        GraphExtractor(nn.Identity(), mg.edges.Full(), hidden=4)
    with pytest.raises(ValueError, match="hidden.*positive.*int.*0"):
        GraphExtractor(GridCNN(), mg.edges.Full(), hidden=0)
    with pytest.raises(ValueError, match="out_dim.*positive.*int.*None.*-1"):
        GraphExtractor(GridCNN(), mg.edges.Full(), hidden=4, out_dim=-1)
    with pytest.raises(ValueError, match="expected a RawModality, got Tensor"):
        _extractor()(torch.zeros(2, 3, 32, 32))
