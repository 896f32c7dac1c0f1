"""Behaviour every baseline must share: shapes per task, missing modalities, padding, errors."""

from __future__ import annotations

import pytest
import torch

import mmgraph.baselines as baselines
from mmgraph.data import collate
from mmgraph.registry import get_model, get_model_builder, list_models

from .conftest import HIDDEN, IN_DIMS, MODEL_NAMES

CLASSES = {
    "concat": baselines.ConcatFusion,
    "attention": baselines.AttentionFusion,
    "late": baselines.LateFusion,
    "tensor": baselines.TensorFusion,
    "rn": baselines.RelationNetwork,
}


def build(name: str, **kwargs):
    kwargs.setdefault("in_dims", IN_DIMS)
    kwargs.setdefault("hidden", HIDDEN)
    return get_model(name, **kwargs).eval()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_registered_under_name(name):
    assert name in list_models()
    assert get_model_builder(name) is CLASSES[name]
    assert isinstance(build(name), CLASSES[name])
    assert set(baselines.__all__) == {c.__name__ for c in CLASSES.values()}


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("task,out_dim", [("classification", 3), ("regression", 1), ("embedding", 5)])
def test_output_shape_per_task(name, task, out_dim, batch):
    out = build(name, out_dim=out_dim, task=task)(batch)
    assert out.shape == (batch.batch_size, out_dim)
    assert torch.isfinite(out).all()
    if task == "embedding":
        torch.testing.assert_close(out.norm(dim=-1), torch.ones(batch.batch_size))
    else:
        assert not torch.allclose(out.norm(dim=-1), torch.ones(batch.batch_size))


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("drop", ["image", "text", ("image", "audio"), ("text", "audio")])
def test_modality_missing_from_whole_batch_is_finite(name, drop, batch):
    drop = (drop,) if isinstance(drop, str) else drop
    model = build(name, out_dim=2)
    out = model(batch.without(*drop))
    assert out.shape == (batch.batch_size, 2)
    assert torch.isfinite(out).all()
    # the missing modality matters: the output differs from the full batch
    assert not torch.allclose(out, model(batch))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_per_sample_missing_equals_alone(name, samples):
    """A sample lacking a modality gives the same output in a batch (all-False mask row)
    as on its own (the modality absent from the batch), and it is finite; gradients are finite too."""
    model = build(name, out_dim=3)
    together = model(collate(samples))
    assert torch.isfinite(together).all()
    for i, s in enumerate(samples):
        torch.testing.assert_close(together[i], model(collate([s]))[0], atol=1e-5, rtol=1e-4)
    model.train()
    model(collate(samples)).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_padding_invariance(name, make_sample):
    """Collating with a longer sample (more padding) does not change a sample's output."""
    model = build(name, out_dim=4)
    short = make_sample(text=2, image=1, audio=2)
    long = make_sample(text=9, image=7, audio=6)
    alone = model(collate([short]))
    padded = model(collate([short, long]))
    assert collate([short, long])["text"].x.size(1) == 9
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-4)
    # and the output does depend on the sample (not a constant)
    assert not torch.allclose(padded[0], padded[1])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_batch_order_equivariant(name, batch, samples):
    model = build(name, out_dim=3)
    out = model(batch)
    rev = model(collate(samples[::-1]))
    torch.testing.assert_close(rev, out.flip(0), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_all_parameters_receive_gradient(name, make_sample):
    model = build(name, out_dim=2).train()
    full = collate([make_sample(text=2, image=3, audio=1), make_sample(text=4, image=1, audio=2)])
    model(full).pow(2).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_unknown_modality_in_batch(name, make_sample):
    model = build(name, in_dims={"text": 6, "image": 4})
    bad = collate([make_sample(text=2, audio=3)])
    with pytest.raises(ValueError, match=r"unknown modality 'audio'.*\['image', 'text'\]"):
        model(bad)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_wrong_feature_dim(name, make_sample):
    model = build(name)
    bad = collate([make_sample(dims={"text": 7, "image": 4}, text=2, image=1)])
    with pytest.raises(ValueError, match=r"modality.*'text':.*feature_dim.*6.*\(in_dims\)"):
        model(bad)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_not_a_batch(name, samples):
    with pytest.raises(ValueError, match="expected a MultimodalBatch"):
        build(name)(samples)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_unknown_option_through_registry(name):
    with pytest.raises(ValueError, match=rf"model '{name}' got unknown option\(s\) \['bogus'\]"):
        get_model(name, in_dims=IN_DIMS, bogus=1)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"task": "ranking"}, r"task: expected one of \['classification', 'regression', 'embedding'\], got 'ranking'"),
        ({"out_dim": 0}, r"out_dim: expected a positive int, got 0"),
        ({"in_dims": {}}, r"in_dims: expected a non-empty mapping"),
        ({"hidden": 0}, r"hidden: expected a positive int, got 0"),
    ],
)
def test_bad_constructor_arguments(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(name, **kwargs)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_reset_parameters_reinitialises_everything(name, batch):
    model = build(name, out_dim=2)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(7.0)
    model.reset_parameters()
    stale = [n for n, p in model.named_parameters() if bool((p == 7.0).all())]
    assert stale == []
    assert torch.isfinite(model(batch)).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_repr_is_short(name):
    text = repr(build(name, out_dim=3))
    assert "\n" not in text and len(text) < 200
    assert text.startswith(CLASSES[name].__name__ + "(")
    assert "hidden=8" in text and "out_dim=3" in text


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_docstring_sections(name):
    doc = CLASSES[name].__doc__
    assert "Args:" in doc and "Shapes:" in doc and "math::" in doc
