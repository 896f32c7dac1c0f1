"""Tests for mmgraph.data.modality: Modality conversion and its (lazy) validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmgraph as mg
from mmgraph.data.modality import Modality, as_float_tensor


# --------------------------------------------------------------------------------------
# Construction and conversion
# --------------------------------------------------------------------------------------
def test_valid_construction_keeps_tensors():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    pos = torch.tensor([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    time = torch.tensor([[0.0, 1.0], [1.0, 2.0], [2.0, 2.0]])
    m = Modality(x, pos=pos, time=time, labels=["a", "b", "c"])
    assert m.check("text") is m
    assert torch.equal(m.x, x) and torch.equal(m.pos, pos) and torch.equal(m.time, time)
    assert m.labels == ["a", "b", "c"]
    assert m.num_elements == 3 and len(m) == 3 and m.feature_dim == 2


def test_optional_fields_default_to_none():
    m = Modality(torch.ones(2, 3))
    assert m.pos is None and m.time is None and m.labels is None


@pytest.mark.parametrize(
    "value",
    [
        [[1, 2], [3, 4]],
        np.array([[1, 2], [3, 4]], dtype=np.int64),
        np.array([[1, 2], [3, 4]], dtype=np.int32),
        torch.tensor([[1, 2], [3, 4]], dtype=torch.int16),
        torch.tensor([[1, 2], [3, 4]], dtype=torch.uint8),
    ],
    ids=["list", "np-int64", "np-int32", "torch-int16", "torch-uint8"],
)
def test_integer_inputs_become_default_float(value):
    m = Modality(value, pos=value, time=[[0, 1], [1, 3]])
    for t in (m.x, m.pos, m.time):
        assert t.dtype == torch.get_default_dtype()
    assert m.x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert m.time.tolist() == [[0.0, 1.0], [1.0, 3.0]]


def test_numpy_float_keeps_its_precision():
    m = Modality(np.array([[0.5, 1.5]], dtype=np.float64))
    assert isinstance(m.x, torch.Tensor)
    assert m.x.dtype == torch.float64
    assert m.x.tolist() == [[0.5, 1.5]]


def test_one_dimensional_time_becomes_zero_length_spans():
    m = Modality(torch.ones(3, 2), time=torch.tensor([0.0, 0.5, 2.0]))
    assert m.time.shape == (3, 2)
    assert m.time.tolist() == [[0.0, 0.0], [0.5, 0.5], [2.0, 2.0]]


def test_labels_are_stored_as_strings():
    m = Modality(torch.ones(2, 1), labels=(1, "b"))
    assert m.labels == ["1", "b"]


@pytest.mark.parametrize(
    "value, match",
    [
        (torch.tensor([[True, False]]), r"^x: expected real-valued numbers, got dtype torch\.bool$"),
        (torch.tensor([[1 + 2j]]), r"^x: expected real-valued numbers, got dtype torch\.complex"),
        ("abc", r"^x: expected a tensor or array, got str$"),
        (object(), r"^x: expected a tensor or array, got object$"),
    ],
    ids=["bool", "complex", "str", "object"],
)
def test_non_numeric_input_is_rejected_eagerly(value, match):
    with pytest.raises(ValueError, match=match):
        Modality(value)


@pytest.mark.parametrize("field", ["pos", "time"])
def test_non_numeric_pos_time_name_the_field(field):
    with pytest.raises(ValueError, match=rf"^{field}: expected real-valued numbers, got dtype torch\.bool"):
        Modality(torch.ones(2, 2), **{field: torch.ones(2, 2, dtype=torch.bool)})


def test_as_float_tensor_names_what():
    with pytest.raises(ValueError, match=r"^modality.*'text':.*real-valued.*numbers.*torch\.bool"):
        as_float_tensor(torch.tensor([True]), "modality 'text': x")
    t = torch.tensor([1.0], dtype=torch.float64)
    assert as_float_tensor(t, "x") is t


def test_validation_is_lazy():
    m = Modality(torch.ones(3))  # rank 1: invalid, but construction does not check
    with pytest.raises(ValueError, match=r"^modality 'modality': x: expected shape"):
        m.check()
    with pytest.raises(ValueError, match=r"^modality 'audio': x: expected shape"):
        m.check("audio")


# --------------------------------------------------------------------------------------
# Every validation error, raised through MultimodalSample with the modality's name
# --------------------------------------------------------------------------------------
nan, inf = float("nan"), float("inf")
X3 = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]

INVALID = [
    ("x-rank-1", dict(x=torch.ones(3)),
     r"x: expected shape \(num_elements, feature_dim\), got a tensor of rank 1 with shape \(3,\)"),
    ("x-rank-3", dict(x=torch.ones(2, 3, 4)),
     r"x: expected shape \(num_elements, feature_dim\), got a tensor of rank 3 with shape \(2, 3, 4\)"),
    ("x-empty", dict(x=torch.ones(0, 4)), r"x: expected at least one element, got 0"),
    ("x-zero-dim", dict(x=torch.ones(3, 0)), r"x: expected feature_dim >= 1, got 0"),
    ("x-nan", dict(x=[[1.0, nan], [3.0, 4.0]]), r"x: expected finite values, got 1 NaN/Inf entry$"),
    ("x-inf", dict(x=[[inf, -inf], [3.0, nan]]), r"x: expected finite values, got 3 NaN/Inf entries$"),
    ("pos-nan", dict(x=X3, pos=[[0.0, 0.0], [nan, 0.0], [0.0, 0.0]]),
     r"pos: expected finite values, got 1 NaN/Inf entry$"),
    ("pos-inf", dict(x=X3, pos=[[0.0, inf], [0.0, 0.0], [inf, 0.0]]),
     r"pos: expected finite values, got 2 NaN/Inf entries$"),
    ("time-nan", dict(x=X3, time=[[0.0, 1.0], [1.0, nan], [2.0, 3.0]]),
     r"time: expected finite values, got 1 NaN/Inf entry$"),
    ("time-inf-1d", dict(x=X3, time=[0.0, 1.0, inf]), r"time: expected finite values, got 2 NaN/Inf entries$"),
    ("pos-length", dict(x=X3, pos=torch.zeros(2, 2)),
     r"pos: expected shape \(3, pos_dim\) to match x with 3 elements, got \(2, 2\)"),
    ("pos-rank", dict(x=X3, pos=torch.zeros(3)),
     r"pos: expected shape \(3, pos_dim\) to match x with 3 elements, got \(3,\)"),
    ("time-length", dict(x=X3, time=torch.zeros(4, 2)),
     r"time: expected shape \(3, 2\) holding \(start, end\) for x with 3 elements, got \(4, 2\)"),
    ("time-width", dict(x=X3, time=torch.zeros(3, 3)),
     r"time: expected shape \(3, 2\) holding \(start, end\) for x with 3 elements, got \(3, 3\)"),
    ("time-1d-length", dict(x=X3, time=torch.zeros(2)),
     r"time: expected shape \(3, 2\) holding \(start, end\) for x with 3 elements, got \(2, 2\)"),
    ("start-after-end", dict(x=X3, time=[[0.0, 1.0], [2.0, 1.5], [3.0, 2.0]]),
     r"time: expected start <= end, got span 1 = \(2\.0, 1\.5\)"),
    ("labels-length", dict(x=X3, labels=["a", "b"]), r"labels: expected 3 labels to match x, got 2"),
]


@pytest.mark.parametrize("kwargs, match", [case[1:] for case in INVALID], ids=[case[0] for case in INVALID])
def test_invalid_modality_error_names_modality(kwargs, match):
    ok = mg.Modality(torch.ones(2, 2))
    with pytest.raises(ValueError, match=r"^modality 'image': " + match):
        mg.MultimodalSample(text=ok, image=mg.Modality(**kwargs))


@pytest.mark.parametrize(
    "value, match",
    [
        (torch.ones(4), r"^modality 'audio': x: expected shape \(num_elements, feature_dim\), got a tensor of rank 1"),
        (torch.ones(0, 3), r"^modality 'audio': x: expected at least one element, got 0"),
        (torch.tensor([[1.0, nan]]), r"^modality 'audio': x: expected finite values, got 1 NaN/Inf entry"),
        (torch.tensor([[True]]), r"^modality 'audio': x: expected real-valued numbers, got dtype torch\.bool"),
    ],
    ids=["rank", "empty", "nan", "bool"],
)
def test_plain_tensor_modality_is_validated(value, match):
    with pytest.raises(ValueError, match=match):
        mg.MultimodalSample(audio=value)


def test_zero_length_spans_and_equal_start_end_are_valid():
    s = mg.MultimodalSample(audio=mg.Modality(torch.ones(2, 1), time=[[1.0, 1.0], [1.0, 2.0]]))
    assert s["audio"].time.tolist() == [[1.0, 1.0], [1.0, 2.0]]


# --------------------------------------------------------------------------------------
# to() and repr
# --------------------------------------------------------------------------------------
def test_to_casts_every_tensor_and_keeps_the_original():
    m = Modality(torch.ones(2, 3), pos=torch.zeros(2, 2), time=[0.0, 1.0], labels=["a", "b"])
    d = m.to(torch.float64)
    assert d is not m
    assert d.x.dtype == d.pos.dtype == d.time.dtype == torch.float64
    assert m.x.dtype == m.pos.dtype == m.time.dtype == torch.float32
    assert torch.equal(d.time, m.time.double())
    assert d.labels == ["a", "b"]


def test_to_without_optional_fields():
    d = Modality(torch.ones(2, 3)).to(torch.float64)
    assert d.x.dtype == torch.float64 and d.pos is None and d.time is None and d.labels is None


def test_repr_lists_shapes():
    m = Modality(torch.ones(2, 3), pos=torch.zeros(2, 2), time=[0.0, 1.0], labels=["a", "b"])
    assert repr(m) == "Modality(x=[2, 3], pos=[2, 2], time=[2, 2], labels)"
    assert repr(Modality(torch.ones(1, 4))) == "Modality(x=[1, 4])"
