"""The model contract, checked for every registered model (graph models and baselines alike)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import mmgraph as mg
from tests.conftest import IN_DIMS, make_sample

MODELS = mg.list_models()


def build(name: str, seed: int = 0, **kwargs: object) -> torch.nn.Module:
    mg.seed_everything(seed)
    opts = {"in_dims": IN_DIMS, "hidden": 16, "out_dim": 3, **kwargs}
    return mg.get_model(name, **opts).eval()


def test_required_models_registered() -> None:
    assert {"graph-gcn", "graph-gat", "concat", "attention", "late", "tensor"} <= set(MODELS)
    assert MODELS == sorted(MODELS)


def test_unknown_model_and_option() -> None:
    with pytest.raises(ValueError, match="unknown model 'nope'.*graph-gat"):
        mg.get_model("nope", in_dims=IN_DIMS)
    for name in MODELS:
        with pytest.raises(ValueError, match="bogus"):
            mg.get_model(name, in_dims=IN_DIMS, bogus=1)


@pytest.mark.parametrize(
    ("name", "suggested", "listed", "not_listed"),
    [("grpah-gat", "graph-gat", "fusion models", "dual-graph"), ("concatt", "concat", "fusion models", "caption-graph"),
     ("dual-grap", "dual-graph", "retrieval models", "concat")],
)
def test_unknown_model_suggests_the_closest_name(name: str, suggested: str, listed: str, not_listed: str) -> None:
    with pytest.raises(ValueError) as exc:
        mg.get_model(name, in_dims=IN_DIMS)
    message = str(exc.value)
    assert f"unknown model {name!r}" in message and f"did you mean {suggested!r}?" in message
    assert listed in message and not_listed not in message  # the models of the name's family only


def test_unknown_model_without_close_name_lists_fusion_models() -> None:
    message = mg.registry.unknown_model_message("zzzzzz")
    assert "did you mean" not in message and "fusion models: ['attention'" in message and "rerank" not in message


def test_list_models_kind() -> None:
    assert mg.list_models(kind="fusion") == MODELS == mg.list_models(family="fusion")
    assert mg.list_models(kind="retrieval") == mg.list_models(family="retrieval") == mg.list_models("retrieval")
    assert set(mg.list_models(kind=None)) == set(MODELS) | set(mg.list_models("retrieval")) | set(
        mg.list_models("captioning"))
    with pytest.raises(ValueError, match="kind: expected one of"):
        mg.list_models(kind="nope")
    with pytest.raises(ValueError, match="give.*kind.*alias.*family.*both"):
        mg.list_models(kind="retrieval", family="captioning")


def test_register_duplicate_name_rejected() -> None:
    with pytest.raises(ValueError, match="already registered"):
        mg.register_model("concat")(lambda **kw: torch.nn.Identity())


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("task", ["classification", "regression", "embedding"])
def test_output_shape(name: str, task: str, batch: mg.MultimodalBatch) -> None:
    out = build(name, task=task)(batch)
    assert out.shape == (batch.batch_size, 3)
    assert torch.isfinite(out).all()
    if task == "embedding":
        torch.testing.assert_close(out.norm(dim=-1), torch.ones(batch.batch_size))


@pytest.mark.parametrize("name", MODELS)
def test_gradients_reach_every_modality(name: str, batch: mg.MultimodalBatch) -> None:
    model = build(name)
    for m in batch.modalities:
        batch[m].x.requires_grad_(True)
    model(batch).square().sum().backward()
    for m in batch.modalities:
        grad = batch[m].x.grad
        assert grad is not None, f"no gradient reached {m}"
        assert grad[batch[m].mask].abs().sum() > 0, f"zero gradient on {m}"
        assert grad[~batch[m].mask].abs().sum() == 0, f"gradient leaked into {m}'s padding"


@pytest.mark.parametrize("name", MODELS)
def test_missing_modality(name: str, samples: list[mg.MultimodalSample]) -> None:
    model = build(name)
    whole = mg.collate(samples).without("audio")  # absent from the whole batch
    out = model(whole)
    assert out.shape == (len(samples), 3) and torch.isfinite(out).all()
    partial = mg.collate([samples[0].without("image")] + samples[1:])  # absent for one sample
    out = model(partial)
    assert out.shape == (len(samples), 3) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS)
def test_deterministic_under_seed(name: str, batch: mg.MultimodalBatch) -> None:
    a, b, c = build(name, seed=1)(batch), build(name, seed=1)(batch), build(name, seed=2)(batch)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("name", MODELS)
def test_output_independent_of_batch_padding(name: str, samples: list[mg.MultimodalSample]) -> None:
    model = build(name)
    alone = model(mg.collate(samples[:1]))
    together = model(mg.collate(samples))[:1]
    torch.testing.assert_close(alone, together, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_bad_input_is_a_clear_error(name: str, samples: list[mg.MultimodalSample]) -> None:
    model = build(name)
    g = torch.Generator().manual_seed(1)
    video = mg.collate([mg.MultimodalSample(text=torch.randn(2, 6, generator=g), video=torch.randn(3, 4))])
    with pytest.raises(ValueError, match="unknown modality 'video'"):
        model(video)
    wrong = mg.collate([mg.MultimodalSample(text=torch.randn(2, 7))])
    with pytest.raises(ValueError, match=r"modality.*'text':.*feature_dim.*6.*\(in_dims\)"):
        model(wrong)
    with pytest.raises(ValueError, match="MultimodalBatch"):
        model(samples)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_features_of_any_float_dtype_are_cast_to_the_model(name: str, dtype: torch.dtype, batch) -> None:
    model = build(name)
    cast = mg.MultimodalBatch({k: mg.ModalityBatch(batch[k].x.to(dtype), batch[k].mask, batch[k].pos, batch[k].time,
                                                   name=k) for k in batch})
    want = model(mg.MultimodalBatch({k: mg.ModalityBatch(cast[k].x.float(), batch[k].mask, batch[k].pos,
                                                         batch[k].time, name=k) for k in batch}))
    got = model(cast)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want)  # the same values once the rounding to ``dtype`` is done


@pytest.mark.parametrize("name", MODELS)
def test_outputs_stay_finite_up_to_the_feature_limit(name: str, batch) -> None:
    """FEATURE_LIMIT is the largest magnitude the boundary accepts: every model must stay finite there."""
    from mmgraph.utils.checks import FEATURE_LIMIT

    model = build(name)
    big = mg.MultimodalBatch({k: mg.ModalityBatch(batch[k].x.sign() * FEATURE_LIMIT, batch[k].mask,
                                                  None if batch[k].pos is None else batch[k].pos * FEATURE_LIMIT,
                                                  batch[k].time, name=k) for k in batch})
    assert torch.isfinite(model(big)).all()
    with pytest.raises(ValueError, match=r"modality 'text': x: expected values within"):
        mg.ModalityBatch(batch["text"].x * 2 * FEATURE_LIMIT, name="text")


@pytest.mark.parametrize("name", MODELS)
def test_learns_a_tiny_task(name: str) -> None:
    """Every model can fit 12 samples whose class is set by one modality's features."""
    g = torch.Generator().manual_seed(3)
    samples = []
    for i in range(12):
        s = make_sample(g, 3, 4, 3, y=i % 3)
        image = s["image"]
        image.x[:, i % 3] += 3.0  # the class is readable from the image
        samples.append(s)
    batch = mg.collate(samples)
    model = build(name).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = F.cross_entropy(model(batch), batch.y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0], f"{name}: loss went {losses[0]:.3f} -> {losses[-1]:.3f}"


@pytest.mark.parametrize("name", MODELS)
def test_raw_pixels_through_an_extractor(name: str) -> None:
    """Every model accepts extractors: 3 images shared by 5 samples, encoded once, regions as a modality."""
    g = torch.Generator().manual_seed(4)
    images = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8, generator=g)
    index = torch.tensor([0, 0, 1, 2, 2])
    words = torch.randn(5, 4, 6, generator=g)
    words[1] = words[0]
    words[2] = words[0]
    batch = mg.MultimodalBatch({"text": mg.ModalityBatch(words, name="text")},
                               raw={"image": mg.RawModality(images, index, name="image")})
    cnn = mg.nn.GridCNN(channels=(8, 8))
    kwargs = {"builder": mg.GraphBuilder.complete(["image", "text"])} if name.startswith("graph-") else {}
    mg.seed_everything(0)
    model = mg.get_model(name, in_dims={"image": cnn.out_dim, "text": 6}, hidden=16, out_dim=3,
                         extractors={"image": cnn}, **kwargs).eval()
    out = model(batch)
    assert out.shape == (5, 3) and torch.isfinite(out).all()
    torch.testing.assert_close(out[0], out[1])  # same image and words: same output
    assert not torch.allclose(out[0], out[2])  # another image
    model.train()
    model(batch).square().sum().backward()
    assert cnn.net[0].weight.grad.abs().sum() > 0  # the CNN is trained end to end
    with pytest.raises(ValueError, match=r"raw modalities \['image'\] need an extractor"):
        mg.get_model(name, in_dims={"image": cnn.out_dim, "text": 6}, hidden=16, out_dim=3, **kwargs)(batch)
    with pytest.raises(ValueError, match=r"extractors\['image'\].*10.*in_dims\['image'\].*=.*7"):
        mg.get_model(name, in_dims={"image": 7, "text": 6}, hidden=16, out_dim=3, extractors={"image": cnn}, **kwargs)


@pytest.mark.parametrize("options", [{"hidden": 2**62}, {"in_dims": {"text": 2**62}}, {"out_dim": 2**40}])
def test_sizes_too_large_to_allocate_are_a_clear_error(options: dict) -> None:
    opts = {"in_dims": IN_DIMS, "hidden": 8, "out_dim": 3, **options}
    with pytest.raises(ValueError, match="model 'concat': cannot allocate it with"):
        mg.get_model("concat", **opts)
