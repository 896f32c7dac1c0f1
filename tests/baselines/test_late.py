"""LateFusion: mean of per-modality predictors over the modalities present."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmgraph.baselines import LateFusion
from mmgraph.data import collate

from .conftest import HIDDEN, IN_DIMS


def hand_output(model: LateFusion, batch, task: str) -> torch.Tensor:
    rows = []
    for i in range(batch.batch_size):
        preds = []
        for name in sorted(IN_DIMS):
            if name in batch.modalities and batch[name].mask[i].any():
                real = batch[name].x[i][batch[name].mask[i]]
                pooled = model.encoders.proj[name](real).mean(dim=0)
                preds.append(model.predictors[name](pooled))
        # batch.without(...) can leave a sample with no modality at all: its output is 0
        avg = torch.stack(preds).mean(dim=0) if preds else torch.zeros(model.out_dim)
        rows.append(F.normalize(avg, dim=-1) if task == "embedding" else avg)
    return torch.stack(rows)


@pytest.mark.parametrize("task", ["classification", "regression", "embedding"])
@pytest.mark.parametrize("drop", [(), ("image",), ("text", "audio")])
def test_mean_over_present_modalities(batch, task, drop):
    model = LateFusion(IN_DIMS, HIDDEN, out_dim=4, task=task).eval()
    b = batch.without(*drop) if drop else batch
    torch.testing.assert_close(model(b), hand_output(model, b, task))


def test_single_modality_sample_is_that_predictor(make_sample):
    model = LateFusion(IN_DIMS, HIDDEN, out_dim=2).eval()
    only_text = make_sample(text=3)
    b = collate([only_text, make_sample(text=2, image=4, audio=1)])
    expected = model.predictors["text"](model.encoders.proj["text"](only_text["text"].x).mean(dim=0))
    torch.testing.assert_close(model(b)[0], expected)


def test_predict_per_modality(batch):
    model = LateFusion(IN_DIMS, HIDDEN, out_dim=2).eval()
    preds, present = model.predict_per_modality(batch.without("audio"))
    assert sorted(preds) == ["image", "text"]
    assert all(p.shape == (3, 2) for p in preds.values())
    torch.testing.assert_close(present["image"], torch.tensor([1.0, 0.0, 1.0]))


@pytest.mark.parametrize("num_layers", [1, 3])
def test_num_layers(num_layers):
    model = LateFusion(IN_DIMS, HIDDEN, out_dim=2, num_layers=num_layers)
    for mlp in model.predictors.values():
        assert sum(isinstance(m, torch.nn.Linear) for m in mlp) == num_layers


def test_no_division_by_zero_when_nothing_present(batch):
    """Cannot come from collate, but a hand-made batch with all-False masks must not give NaN."""
    from mmgraph.data import ModalityBatch, MultimodalBatch

    empty = MultimodalBatch({"text": ModalityBatch(torch.randn(2, 3, 6), torch.zeros(2, 3, dtype=torch.bool))})
    for task in ("classification", "embedding"):
        out = LateFusion(IN_DIMS, HIDDEN, out_dim=2, task=task)(empty)
        assert torch.isfinite(out).all()
        assert (out == 0).all()
