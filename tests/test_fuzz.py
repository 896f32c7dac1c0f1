"""Property-based tests over the public input API: every input ends in a correct output or a clear error.

Inputs are drawn by ``hypothesis`` (good and bad dtypes, NaN/Inf and huge values, wrong ranks and
sizes, empty modalities, bad targets, bad model options). A case passes when the model gives a
finite output of the right shape, or mmgraph raises a ``ValueError``/``TypeError`` from its own
code whose message names the modality or argument. Over 1,000 examples run per test session
(``derandomize=True``: the same examples every run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import mmgraph as mg
from mmgraph.utils.checks import FEATURE_LIMIT

IN_DIMS = {"image": 5, "text": 6}
PACKAGE = str(Path(mg.__file__).parent)
MODELS = {name: mg.get_model(name, in_dims=IN_DIMS, hidden=8, out_dim=3).eval() for name in mg.list_models()}
SETTINGS = settings(max_examples=350, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

DTYPES = st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.uint8,
                          torch.bool, torch.complex64])
SPECIAL = st.sampled_from([None, float("nan"), float("inf"), float("-inf"), 1e38, 1e20, -1e16, 1e12])


def outcome(run: Callable[[], Any], names: tuple[str, ...]) -> str:
    """``"ok"`` for a finite (B, 3) output, ``"clear"`` for mmgraph's own named error; anything else fails the test."""
    try:
        out = run()
    except (ValueError, TypeError) as exc:
        tb = exc.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        where = tb.tb_frame.f_code.co_filename
        assert where.startswith(PACKAGE), f"{type(exc).__name__} from outside mmgraph ({where}): {exc}"
        assert any(n in str(exc) for n in names), f"the error names none of {names}: {exc}"
        return "clear"
    assert out.shape[-1] == 3 and bool(torch.isfinite(out).all()), f"silent wrong output: {out}"
    return "ok"


@st.composite
def features(draw: st.DrawFn, rows: int, cols: int) -> torch.Tensor:
    dtype = draw(DTYPES)
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    x = torch.randn(rows, cols, generator=g) * draw(st.sampled_from([1.0, 100.0, 1e6]))
    special = draw(SPECIAL)
    if special is not None and x.numel():
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = special
    if dtype == torch.bool:
        return x > 0
    if dtype == torch.complex64:
        return torch.complex(x, x)
    if not dtype.is_floating_point:
        return x.nan_to_num(0.0).clamp(-100, 100).abs().to(dtype)
    return x.to(dtype)


def _valid(x: torch.Tensor, cols: int) -> bool:
    if x.dtype in (torch.bool, torch.complex64) or x.dim() != 2 or x.size(0) == 0 or x.size(1) != cols:
        return False
    return not x.is_floating_point() or (bool(torch.isfinite(x).all()) and float(x.abs().max()) <= FEATURE_LIMIT)


@SETTINGS
@given(rows=st.integers(0, 6), cols=st.sampled_from([6, 6, 6, 2, 0]), data=st.data(),
       model=st.sampled_from(sorted(MODELS)), y=st.sampled_from([0, 2, -1, 3, 1.5, float("nan"), "cat", True, None]))
def test_samples_through_collate_and_a_model(rows: int, cols: int, data: st.DataObject, model: str, y: Any) -> None:
    x = data.draw(features(rows, cols))
    good = mg.MultimodalSample(image=mg.Modality(torch.randn(3, 5), pos=torch.rand(3, 2)), text=torch.randn(2, 6))

    def run() -> torch.Tensor:
        bad = mg.MultimodalSample(image=mg.Modality(torch.randn(2, 5), pos=torch.rand(2, 2)), text=x, y=y)
        batch = mg.collate([good, bad] if y is None else [mg.MultimodalSample(dict(good.items()), y=0), bad])
        out = MODELS[model](batch)
        if batch.y is not None:  # the training boundary checks targets against the head
            mg.train.fit(MODELS[model], [batch], [batch], epochs=1, progress=False)
        return out

    result = outcome(run, ("text", "y", "feature_dim", "target", "modality"))
    event(result)
    valid = _valid(x, 6) and y in (0, 2, None) and y is not True
    assert result == ("ok" if valid else "clear"), (result, x.dtype, tuple(x.shape), y)


@SETTINGS
@given(b=st.integers(0, 3), length=st.integers(0, 4), data=st.data(), model=st.sampled_from(sorted(MODELS)),
       mask=st.sampled_from(["none", "bool", "float", "wrong"]))
def test_padded_batches_built_directly(b: int, length: int, data: st.DataObject, model: str, mask: str) -> None:
    x = data.draw(features(b * length, 6)).reshape(b, length, 6)
    masks = {"none": None, "bool": torch.ones(b, length, dtype=torch.bool), "float": torch.ones(b, length),
             "wrong": torch.ones(b + 1, length, dtype=torch.bool)}

    def run() -> torch.Tensor:
        text = mg.ModalityBatch(x, mask=masks[mask], name="text")
        image = mg.ModalityBatch(torch.randn(b, 2, 5), pos=torch.rand(b, 2, 2), name="image")
        return MODELS[model](mg.MultimodalBatch({"image": image, "text": text}))

    result = outcome(run, ("modality 'text'", "modality 'image'", "batch"))
    event(result)
    valid = (b > 0 and mask != "wrong" and x.dtype not in (torch.bool, torch.complex64)
             and (x.numel() == 0 or _valid(x.reshape(-1, 6), 6)))
    assert result == ("ok" if valid else "clear"), (result, x.dtype, tuple(x.shape), mask)


@settings(max_examples=350, deadline=None, derandomize=True, database=None)
@given(model=st.sampled_from(sorted(MODELS)),
       key=st.sampled_from(["hidden", "out_dim", "dropout", "in_dims"]), data=st.data())
def test_model_options(model: str, key: str, data: st.DataObject) -> None:
    bad = {"hidden": st.one_of(st.integers(-5, 0), st.floats(0.5, 9.5), st.booleans(), st.just("8"),
                               st.integers(2**40, 2**62)),
           "out_dim": st.one_of(st.integers(-5, 0), st.just(2.0), st.none(), st.integers(2**40, 2**62)),
           "dropout": st.one_of(st.floats(1.0, 10.0), st.floats(-10.0, -0.01), st.just(float("nan")), st.just("0.1")),
           "in_dims": st.one_of(st.just({}), st.dictionaries(st.sampled_from(["text", "", "fusion"]),
                                                             st.integers(-3, 0), min_size=1),
                                st.just({"text": 2**62}), st.just([6]))}[key]
    value = data.draw(bad)
    opts = {"in_dims": IN_DIMS, "hidden": 8, "out_dim": 3, key: value}
    with pytest.raises((ValueError, TypeError)) as exc:
        mg.get_model(model, **opts)
    message = str(exc.value)
    assert any(n in message for n in (key, "in_dims", "modality", "fusion")), message
