"""Tests for :mod:`mmgraph.nn.encoders`: input checks and masked pooling."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg
from mmgraph.nn.encoders import ModalityEncoders, check_in_dims, masked_mean
from tests.conftest import IN_DIMS


def test_check_in_dims_sorts_and_returns() -> None:
    out = check_in_dims({"text": 3, "audio": 1, "image": 2})
    assert list(out) == ["audio", "image", "text"] and out == {"audio": 1, "image": 2, "text": 3}


@pytest.mark.parametrize("bad", [{}, None, [("text", 3)], "text"])
def test_check_in_dims_empty_or_not_mapping(bad) -> None:
    with pytest.raises(ValueError, match="in_dims: expected a non-empty mapping"):
        check_in_dims(bad)


@pytest.mark.parametrize("dim", [0, -3, 2.0, "4", True, None])
def test_check_in_dims_bad_dim(dim) -> None:
    with pytest.raises(ValueError, match=r"in_dims\['text'\]: expected a positive int"):
        check_in_dims({"audio": 2, "text": dim})


@pytest.mark.parametrize("name", ["", "a__b", "1x", "two words", 3])
def test_check_in_dims_bad_name(name) -> None:
    with pytest.raises(ValueError, match="modality names must be Python identifiers"):
        check_in_dims({name: 3})


def test_check_in_dims_reserved_name() -> None:
    with pytest.raises(ValueError, match="'fusion' is reserved"):
        check_in_dims({"text": 3, "fusion": 3})


def test_encoders_shapes_and_hidden_error(batch: mg.MultimodalBatch) -> None:
    torch.manual_seed(0)
    enc = ModalityEncoders(IN_DIMS, 8)
    out = enc(batch)
    assert set(out) == set(batch.modalities)
    for name, h in out.items():
        assert h.shape == (batch.batch_size, batch[name].x.size(1), 8)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="hidden: expected a positive int"):
            ModalityEncoders(IN_DIMS, bad)


def test_check_unknown_modality(batch: mg.MultimodalBatch) -> None:
    enc = ModalityEncoders({"image": 5, "text": 6}, 8)
    with pytest.raises(ValueError, match=r"unknown modality 'audio'.*\['image', 'text'\]"):
        enc.check(batch)
    with pytest.raises(ValueError, match="unknown modality 'audio'"):
        enc(batch)
    enc.check(batch.without("audio"))  # a subset of in_dims is fine


def test_check_wrong_feature_dim(batch: mg.MultimodalBatch) -> None:
    enc = ModalityEncoders({**IN_DIMS, "text": 7}, 8)
    with pytest.raises(ValueError, match="modality.*'text':.*feature_dim.*7.*6"):
        enc.check(batch)
    with pytest.raises(ValueError, match="modality 'text': expected feature_dim 7"):
        enc(batch)


@pytest.mark.parametrize("kind", ["dict", "list", "sample"])
def test_check_not_a_batch(kind: str, samples: list[mg.MultimodalSample], batch: mg.MultimodalBatch) -> None:
    enc = ModalityEncoders(IN_DIMS, 8)
    bad = {"dict": dict(batch), "list": samples, "sample": samples[0]}[kind]
    with pytest.raises(ValueError, match="expected a MultimodalBatch"):
        enc.check(bad)


def test_masked_mean_by_hand() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, 3, generator=g)
    mask = torch.tensor(
        [
            [True, True, False, False, False],
            [False, False, False, False, False],  # no element: zeros
            [True, True, True, True, True],
            [False, True, False, True, False],
        ]
    )
    expected = torch.stack(
        [x[0, :2].mean(0), torch.zeros(3), x[2].mean(0), (x[3, 1] + x[3, 3]) / 2]
    )
    out = masked_mean(x, mask)
    torch.testing.assert_close(out, expected)
    assert torch.equal(out[1], torch.zeros(3))
    # padding values do not leak
    x2 = x.clone()
    x2[~mask] = 1e6
    torch.testing.assert_close(masked_mean(x2, mask), expected)


def test_masked_mean_gradient_ignores_padding() -> None:
    x = torch.randn(2, 3, 2, requires_grad=True)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    masked_mean(x, mask).sum().backward()
    assert torch.equal(x.grad[~mask], torch.zeros(int((~mask).sum()), 2))
    torch.testing.assert_close(x.grad[0, 0], torch.full((2,), 0.5))


@pytest.mark.parametrize("name", ["type", "training"])
def test_modality_name_that_is_a_module_attribute(name: str) -> None:
    # check_in_dims is the validation step: a name it accepts must give working encoders
    # (or it must reject the name with a ValueError).
    try:
        check_in_dims({name: 4})
    except ValueError:
        return
    enc = ModalityEncoders({name: 4, "text": 3}, 8)
    assert enc.encode(name, torch.randn(2, 4)).shape == (2, 8)


def test_norm_none_keeps_magnitude_and_layer_does_not() -> None:
    torch.manual_seed(0)
    plain = ModalityEncoders({"image": 4, "question": 3}, hidden=8, norm={"image": None})
    assert isinstance(plain.proj["image"][1], torch.nn.Identity)
    assert isinstance(plain.proj["question"][1], torch.nn.LayerNorm)  # left out: "layer"
    x = torch.randn(2, 5, 4)
    # Without LayerNorm, scaling an element's input changes its encoding; with it, the encoding is scale-free.
    assert not torch.allclose(plain.encode("image", 3 * x), plain.encode("image", x))
    normed = ModalityEncoders({"image": 4}, hidden=8)
    with torch.no_grad():
        normed.proj["image"][0].bias.zero_()
    assert torch.allclose(normed.encode("image", 3 * x), normed.encode("image", x), atol=1e-4)
    assert "norm={'image': None}" in repr(plain) and "norm" not in repr(normed)


def test_norm_none_for_every_modality_and_film_path() -> None:
    enc = ModalityEncoders({"image": 4, "question": 3}, hidden=8, norm=None)
    assert all(isinstance(p[1], torch.nn.Identity) for p in enc.proj.values())
    x = torch.randn(2, 5, 4)
    identity = (torch.zeros(2, 8), torch.zeros(2, 8))
    assert torch.allclose(enc.encode("image", x, identity), enc.encode("image", x))


@pytest.mark.parametrize(("norm", "words"), [
    ("batch", r"norm\['image'\]: expected one of \['layer', None\], got 'batch'"),
    ({"image": "group"}, r"norm\['image'\].*'group'"),
    ({"audio": None}, r"norm: modalities \['audio'\] are not in in_dims \['image'\]"),
])
def test_norm_bad_values(norm, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        ModalityEncoders({"image": 4}, hidden=8, norm=norm)


def test_fusion_models_take_encoder_norm() -> None:
    model = mg.get_model("concat", in_dims={"image": 4, "question": 3}, hidden=8, out_dim=2,
                         encoder_norm={"image": None})
    assert model.encoders.norms == {"image": None, "question": "layer"}
    assert "encoder_norm" in mg.registry.model_options(mg.registry.get_model_builder("concat"))
    graph = mg.get_model("graph-relational", in_dims={"image": 4, "question": 3}, hidden=8, out_dim=2,
                         encoder_norm=None)
    assert set(graph.encoders.norms.values()) == {None}


@pytest.mark.parametrize(("norm", "words"), [
    ({"audio": None}, r"encoder_norm: modalities \['audio'\] are not in in_dims \['image', 'question'\]"),
    ("batch", r"encoder_norm\['image'\]: expected one of \['layer', None\], got 'batch'"),
])
@pytest.mark.parametrize("name", ["concat", "graph-relational"])
def test_fusion_models_name_encoder_norm_in_errors(name: str, norm, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        mg.get_model(name, in_dims={"image": 4, "question": 3}, hidden=8, out_dim=2, encoder_norm=norm)
