"""Tests for mmgraph.data.sample: MultimodalSample construction, names, indexing, without(), to()."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
import torch

import mmgraph as mg
from mmgraph.data.sample import RESERVED_NAMES, check_modality_name


def _sample(**extra):
    return mg.MultimodalSample(
        text=mg.Modality(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), time=[0.0, 1.0], labels=["hi", "there"]),
        image=mg.Modality(torch.tensor([[5.0, 6.0, 7.0]]), pos=torch.tensor([[0.5, 0.25]])),
        **extra,
    )


# --------------------------------------------------------------------------------------
# Construction
# --------------------------------------------------------------------------------------
def test_keyword_modalities_sorted_and_indexed():
    s = _sample(y=2)
    assert isinstance(s, Mapping)
    assert s.modalities == ["image", "text"]
    assert list(s) == ["image", "text"] and len(s) == 2
    assert "text" in s and "audio" not in s
    assert s["text"].x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert s["image"].pos.tolist() == [[0.5, 0.25]]
    assert s["text"].labels == ["hi", "there"]
    assert s.y.tolist() == 2 and s.y.dtype == torch.long


def test_mapping_and_keywords_combine():
    text = mg.Modality(torch.ones(3, 2))
    s = mg.MultimodalSample({"text": text}, audio=torch.zeros(1, 4))
    assert s.modalities == ["audio", "text"]
    assert s["text"] is text
    assert s["audio"].x.shape == (1, 4)


@pytest.mark.parametrize(
    "value",
    [np.array([[1, 2, 3]]), [[1, 2, 3]], torch.tensor([[1, 2, 3]])],
    ids=["numpy-int", "list-int", "torch-int"],
)
def test_plain_values_become_float_modalities(value):
    s = mg.MultimodalSample(text=value)
    assert isinstance(s["text"], mg.Modality)
    assert s["text"].x.dtype == torch.float32
    assert s["text"].x.tolist() == [[1.0, 2.0, 3.0]]
    assert s["text"].pos is None and s["text"].time is None


@pytest.mark.parametrize(
    "y, expected",
    [(None, None), (1, [1]), (0.5, [0.5]), ([1.0, 2.0], [1.0, 2.0]), (torch.tensor(3), [3])],
)
def test_y_is_stored_as_a_tensor(y, expected):
    s = mg.MultimodalSample(text=torch.ones(1, 1), y=y)
    if expected is None:
        assert s.y is None
    else:
        assert isinstance(s.y, torch.Tensor)
        assert s.y.reshape(-1).tolist() == expected


def test_missing_modality_key_error_lists_present_ones():
    s = _sample()
    with pytest.raises(KeyError, match=r"modality.*'audio'.*sample.*\['image'.*'text'\]"):
        s["audio"]


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs", [((), {}), (({},), {}), ((None,), {})], ids=["nothing", "empty-map", "none"])
def test_empty_sample_is_rejected(args, kwargs):
    with pytest.raises(ValueError, match=r"^a.*MultimodalSample.*needs.*least.*modality"):
        mg.MultimodalSample(*args, **kwargs)


@pytest.mark.parametrize("via", ["keyword", "mapping"])
def test_reserved_name_fusion(via):
    assert "fusion" in RESERVED_NAMES
    args, kwargs = (({"fusion": torch.ones(1, 1)},), {}) if via == "mapping" else ((), {"fusion": torch.ones(1, 1)})
    with pytest.raises(ValueError, match=r"^modality name 'fusion' is reserved"):
        mg.MultimodalSample(*args, **kwargs)


@pytest.mark.parametrize(
    "name, shown", [("1text", "'1text'"), ("two words", "'two words'"), ("a__b", "'a__b'"), ("", "''"),
                    ("a-b", "'a-b'"), (3, "3")]
)
def test_invalid_name(name, shown):
    with pytest.raises(ValueError, match=rf"^modality names must be Python identifiers without '__' .*, got {shown}$"):
        mg.MultimodalSample({name: torch.ones(1, 1)})


def test_invalid_non_string_name_among_valid_names_raises_value_error():
    # A non-string key next to string keys must give the documented ValueError naming the key,
    # not a TypeError from sorting mixed key types.
    with pytest.raises(ValueError, match=r"modality.*names.*Python.*identifiers.*3$"):
        mg.MultimodalSample({"text": torch.ones(1, 1), 3: torch.ones(1, 1)})


def test_check_modality_name_returns_valid_name():
    assert check_modality_name("image_2") == "image_2"


def test_duplicate_name_via_mapping_and_keyword():
    with pytest.raises(ValueError, match=r"^modality.*'text'.*\(in.*mapping.*keyword\)$"):
        mg.MultimodalSample({"text": torch.ones(1, 1)}, text=torch.ones(2, 1))


def test_mapping_value_is_rejected():
    with pytest.raises(ValueError, match=r"^modality.*'text':.*Modality.*tensor.*mapping$"):
        mg.MultimodalSample(text={"x": torch.ones(1, 1)})


def test_first_invalid_modality_in_sorted_order_is_named():
    bad = mg.Modality(torch.ones(0, 2))
    with pytest.raises(ValueError, match=r"^modality.*'audio':.*x:.*least.*element"):
        mg.MultimodalSample(text=bad, audio=bad)


# --------------------------------------------------------------------------------------
# without() and to()
# --------------------------------------------------------------------------------------
def test_without_removes_modalities_and_keeps_y():
    s = _sample(y=1)
    t = s.without("image")
    assert t.modalities == ["text"]
    assert t["text"] is s["text"]
    assert torch.equal(t.y, s.y)
    assert s.modalities == ["image", "text"]  # original unchanged
    with pytest.raises(ValueError, match=r"cannot.*\['audio'\]:.*modalities.*\['image'.*'text'\]"):
        s.without("audio")


def test_without_everything_is_an_error():
    with pytest.raises(ValueError, match=r"needs.*least.*modality.*none"):
        _sample().without("image", "text")


def test_to_casts_all_tensors():
    s = _sample(y=[1.5])
    d = s.to(torch.float64)
    assert d is not s and d.modalities == s.modalities
    assert d["text"].x.dtype == d["text"].time.dtype == d["image"].pos.dtype == torch.float64
    assert torch.equal(d["text"].x, s["text"].x.double())
    assert torch.equal(d["image"].pos, s["image"].pos.double())
    assert d["text"].labels == ["hi", "there"]
    assert d.y.tolist() == [1.5]
    assert s["text"].x.dtype == torch.float32


def test_to_without_y():
    d = mg.MultimodalSample(text=torch.ones(1, 2)).to("cpu")
    assert d.y is None and d["text"].x.device.type == "cpu"


def test_repr():
    s = mg.MultimodalSample(text=torch.ones(2, 3), y=1)
    assert repr(s) == "MultimodalSample(text=Modality(x=[2, 3]), y=1)"
    assert repr(mg.MultimodalSample(text=torch.ones(2, 3), y=torch.zeros(5))) == (
        "MultimodalSample(text=Modality(x=[2, 3]), y=[5])"
    )
