"""ConcatFusion: early fusion by concatenating pooled modality vectors and presence flags."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmgraph.baselines import ConcatFusion
from mmgraph.data import collate

from .conftest import HIDDEN, IN_DIMS


def hand_fused(model: ConcatFusion, batch) -> torch.Tensor:
    """z = [mean_audio; mean_image; mean_text; p_audio; p_image; p_text], computed sample by sample."""
    rows = []
    for i in range(batch.batch_size):
        means, flags = [], []
        for name in sorted(IN_DIMS):
            if name in batch.modalities and batch[name].mask[i].any():
                real = batch[name].x[i][batch[name].mask[i]]  # (n_i, D)
                means.append(model.encoders.proj[name](real).mean(dim=0))
                flags.append(1.0)
            else:
                means.append(torch.zeros(HIDDEN))
                flags.append(0.0)
        rows.append(torch.cat(means + [torch.tensor(flags)]))
    return torch.stack(rows)


@pytest.mark.parametrize("drop", [(), ("image",), ("audio", "text")])
def test_matches_hand_computation(batch, drop):
    model = ConcatFusion(IN_DIMS, HIDDEN, out_dim=3).eval()
    b = batch.without(*drop) if drop else batch
    z = hand_fused(model, b)
    assert z.shape == (3, 3 * HIDDEN + 3)
    torch.testing.assert_close(model.fuse(b), z)
    torch.testing.assert_close(model(b), model.head.mlp(z))


def test_presence_flags(batch):
    model = ConcatFusion(IN_DIMS, HIDDEN).eval()
    flags = model.fuse(batch)[:, -3:]  # audio, image, text
    expected = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    torch.testing.assert_close(flags, expected)
    # the missing modality's block is exactly zero
    assert (model.fuse(batch)[1, HIDDEN : 2 * HIDDEN] == 0).all()


@pytest.mark.parametrize("num_layers", [1, 2, 4])
def test_num_layers_sets_mlp_depth(num_layers, batch):
    model = ConcatFusion(IN_DIMS, HIDDEN, out_dim=2, num_layers=num_layers)
    linears = [m for m in model.head.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == num_layers
    assert linears[0].in_features == 3 * HIDDEN + 3
    assert model(batch).shape == (3, 2)


def test_num_layers_invalid():
    with pytest.raises(ValueError, match=r"num_layers:.*positive.*int.*0"):
        ConcatFusion(IN_DIMS, HIDDEN, num_layers=0)


def test_single_modality_works(make_sample):
    model = ConcatFusion({"text": 6}, HIDDEN, out_dim=2).eval()
    out = model(collate([make_sample(text=2), make_sample(text=5)]))
    assert out.shape == (2, 2) and torch.isfinite(out).all()


def _grid_samples(n: int = 3, cells: int = 4):
    import mmgraph as mg

    gen = torch.Generator().manual_seed(0)
    return [mg.MultimodalSample(image=torch.randn(cells, 3, generator=gen), question=torch.randn(2, 2, generator=gen),
                                y=i % 2) for i in range(n)]


def test_flat_reads_elements_by_position():
    torch.manual_seed(0)
    pooled = ConcatFusion({"image": 3, "question": 2}, hidden=8, out_dim=2)
    torch.manual_seed(0)
    flat = ConcatFusion({"image": 3, "question": 2}, hidden=8, out_dim=2, flat={"image": 4})
    samples = _grid_samples()
    swapped = [s.__class__(image=s["image"].x.flip(0), question=s["question"].x, y=s.y) for s in samples]
    pooled.eval(), flat.eval()
    # A pooled readout cannot tell where an element is; the flat readout can.
    torch.testing.assert_close(pooled(collate(samples)), pooled(collate(swapped)))
    assert not torch.allclose(flat(collate(samples)), flat(collate(swapped)))
    z = flat.fuse(collate(samples))
    assert z.shape == (3, 2 * 8 + 2 + 4 * 8) and flat.fused_dim == z.size(1)
    encoded = flat.encoders(collate(samples))["image"]
    torch.testing.assert_close(z[:, -32:], encoded.reshape(3, 32))
    assert "flat={'image': 4}" in repr(flat)


def test_pool_keeps_the_means_of_some_modalities_only():
    torch.manual_seed(0)
    model = ConcatFusion({"image": 3, "question": 2}, hidden=8, out_dim=2, flat={"image": 4}, pool=["question"])
    batch = collate(_grid_samples())
    z = model.fuse(batch)
    encoded = model.encoders(batch)
    assert z.shape == (3, 8 + 2 + 4 * 8) and model.fused_dim == z.size(1)
    torch.testing.assert_close(z[:, :8], encoded["question"].mean(1))  # the question's mean, no image mean
    assert "pool=['question']" in repr(model) and "pool" not in repr(ConcatFusion({"image": 3}, hidden=8))
    with pytest.raises(ValueError, match=r"concat: pool: expected a list of modalities among \['image', 'question'\]"):
        ConcatFusion({"image": 3, "question": 2}, hidden=8, pool=["audio"])


def test_flat_errors_and_missing_modality():
    with pytest.raises(ValueError, match=r"flat: 'audio' is not one of \['image', 'question'\]"):
        ConcatFusion({"image": 3, "question": 2}, hidden=8, flat={"audio": 2})
    model = ConcatFusion({"image": 3, "question": 2}, hidden=8, out_dim=2, flat={"image": 5})
    with pytest.raises(ValueError, match=r"concat: flat\['image'\] expects 5 elements per sample, got 4"):
        model(collate(_grid_samples()))
    import mmgraph as mg

    only_question = collate([mg.MultimodalSample(question=torch.randn(2, 2), y=0)])
    assert torch.equal(model.fuse(only_question)[:, -40:], torch.zeros(1, 40))
