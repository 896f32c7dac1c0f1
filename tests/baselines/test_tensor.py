"""TensorFusion: outer product of the 1-extended modality vectors (Zadeh et al., 2017)."""

from __future__ import annotations

import pytest
import torch

from mmgraph.baselines import TensorFusion
from mmgraph.data import collate

from .conftest import HIDDEN, IN_DIMS


def hand_vectors(model: TensorFusion, batch) -> dict[str, torch.Tensor]:
    """z_m = [W_m mean(h_m) + b_m; 1], or [0; 1] when the modality is missing, sample by sample."""
    out = {}
    for name in model.names:
        rows = []
        for i in range(batch.batch_size):
            if name in batch.modalities and batch[name].mask[i].any():
                real = batch[name].x[i][batch[name].mask[i]]
                z = model.reduce[name](model.encoders.proj[name](real).mean(dim=0))
            else:
                z = torch.zeros(model.rank_dim)
            rows.append(torch.cat([z, torch.ones(1)]))
        out[name] = torch.stack(rows)
    return out


@pytest.mark.parametrize("drop", [(), ("image",)])
def test_two_modalities_outer_product(make_sample, drop):
    dims = {"image": 4, "text": 6}
    model = TensorFusion(dims, HIDDEN, out_dim=2, rank_dim=3).eval()
    b = collate([make_sample(dims=dims, text=2, image=3), make_sample(dims=dims, text=4)])
    b = b.without(*drop) if drop else b
    z = hand_vectors(model, b)
    expected = torch.einsum("bi,bj->bij", z["image"], z["text"]).reshape(2, -1)
    fused = model.fuse(b)
    assert fused.shape == (2, 16) == (2, model.fused_dim)
    torch.testing.assert_close(fused, expected)
    torch.testing.assert_close(model(b), model.head(expected))


@pytest.mark.parametrize("drop", [(), ("audio",), ("audio", "text")])
def test_three_modalities_outer_product(batch, drop):
    model = TensorFusion(IN_DIMS, HIDDEN, out_dim=2, rank_dim=2).eval()
    b = batch.without(*drop) if drop else batch
    z = hand_vectors(model, b)
    expected = torch.einsum("bi,bj,bk->bijk", z["audio"], z["image"], z["text"]).reshape(3, -1)
    assert model.fused_dim == 27
    torch.testing.assert_close(model.fuse(b), expected)


def test_fused_tensor_keeps_lower_order_terms(batch):
    """The 1s keep the constant, unimodal and bimodal terms inside the tensor."""
    r = 2
    model = TensorFusion(IN_DIMS, HIDDEN, rank_dim=r).eval()
    fused = model.fuse(batch).view(3, r + 1, r + 1, r + 1)  # (audio, image, text)
    z = model.modality_vectors(batch)
    torch.testing.assert_close(fused[:, r, r, r], torch.ones(3))
    torch.testing.assert_close(fused[:, r, r, :r], z["text"][:, :r])
    torch.testing.assert_close(fused[:, :r, r, r], z["audio"][:, :r])
    torch.testing.assert_close(fused[:, :r, :r, r], torch.einsum("bi,bj->bij", z["audio"][:, :r], z["image"][:, :r]))
    # sample 1 lacks image: every term involving image is zero, its appended 1 stays
    torch.testing.assert_close(z["image"][1], torch.tensor([0.0, 0.0, 1.0]))
    assert (fused[1, :, :r, :] == 0).all()


@pytest.mark.parametrize("rank_dim", [1, 5])
def test_rank_dim_sets_fused_width(rank_dim, batch):
    model = TensorFusion(IN_DIMS, HIDDEN, out_dim=2, rank_dim=rank_dim)
    assert model.fused_dim == (rank_dim + 1) ** 3
    assert model.fuse(batch).shape == (3, (rank_dim + 1) ** 3)
    assert "rank_dim=" + str(rank_dim) in repr(model)


def test_rank_dim_invalid():
    with pytest.raises(ValueError, match=r"rank_dim:.*positive.*int.*0"):
        TensorFusion(IN_DIMS, HIDDEN, rank_dim=0)
