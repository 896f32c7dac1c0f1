"""Argument and value checks shared by every boundary (construction, collate, load, CLI).

Each check returns the value it accepts, or raises a ``ValueError`` whose message starts with
``what`` (the argument or modality) and says what was expected against what was got. They run
where data enter (sample and batch construction, collate, checkpoint load, CLI parse), never
in a model's forward pass.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional

import torch
from torch import Tensor

__all__ = [
    "FEATURE_LIMIT",
    "FLOAT_DTYPES",
    "check_dense",
    "check_features",
    "check_int",
    "is_int",
    "check_positive_int",
    "check_positive_float",
    "check_probability",
]

#: Largest magnitude a feature, position or time value may have. Beyond about 1.8e19 the
#: square of a float32 value overflows (layer norms and distances square their inputs), so
#: such features would give NaN outputs; every registered model gives finite outputs up to
#: this limit (a test checks it). Standardise features that are larger.
FEATURE_LIMIT: float = 1e15

#: Floating dtypes accepted as features; models cast them to their own dtype (see
#: :meth:`mmgraph.MultimodalBatch.cast`).
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def check_int(value: Any, what: str, low: Optional[int] = None, high: Optional[int] = None,
              allow_none: bool = False) -> Optional[int]:
    """``value`` as an ``int`` in ``[low, high]`` (either bound optional), or a ``ValueError`` naming ``what``.

    Example:
        >>> check_int(3, "epochs", low=1)
        3
    """
    if value is None and allow_none:
        return None
    want = "" if low is None and high is None else \
        f" >= {low}" if high is None else f" <= {high}" if low is None else f" in [{low}, {high}]"
    if not is_int(value):
        raise ValueError(f"{what}: expected an int{want}, got {type(value).__name__} {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{what}: expected an int{want}, got {int(value)}")
    return int(value)


def check_positive_int(value: Any, what: str, maximum: Optional[int] = None) -> int:
    """Return ``value`` if it is an ``int`` (not a bool) in ``1 .. maximum``, else raise a ``ValueError``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what}: expected a positive int, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{what}: expected at most {maximum:,}, got {value:,}")
    return value


def check_positive_float(value: Any, what: str) -> float:
    """Return ``value`` as a float if it is a finite number ``> 0``, else raise a ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what}: expected a finite number > 0, got {value!r}")
    return float(value)


def check_probability(value: Any, what: str) -> float:
    """Return ``value`` if it is a number in ``[0, 1)``, else raise a ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{what}: expected a probability in [0, 1), got {value!r}")
    return float(value)


def check_dense(t: Tensor, what: str) -> Tensor:
    """Refuse sparse, meta and other non-strided tensors (mmgraph works on dense data)."""
    if t.layout != torch.strided:
        raise ValueError(f"{what}: expected a dense tensor, got layout {t.layout} (call .to_dense() first)")
    if t.is_meta:
        raise ValueError(f"{what}: expected a tensor with data, got a tensor on the meta device")
    return t


def check_features(t: Tensor, what: str) -> Tensor:
    """Refuse NaN/Inf and values beyond :data:`FEATURE_LIMIT` in the floating tensor ``t``.

    One reduction over ``t``; callers run it where data enter, not per forward pass.
    """
    if not t.numel() or not t.is_floating_point():
        return t
    finite = torch.isfinite(t)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(f"{what}: expected finite values, got {bad} NaN/Inf entr{'y' if bad == 1 else 'ies'}")
    largest = float(t.detach().abs().max())
    if largest > FEATURE_LIMIT:
        raise ValueError(f"{what}: expected values within ±{FEATURE_LIMIT:g} (larger ones overflow float32 "
                         f"arithmetic; standardise them), got {largest:.3g}")
    return t
