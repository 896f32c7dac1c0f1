"""Targets of samples: numbers as tensors, refused early when they cannot be a target."""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

__all__ = ["as_target"]

_EXPECTED = ("a number, a sequence of numbers, an array or a tensor (class index, regression value(s), "
             "class probabilities)")


def as_target(y: Any, what: str = "y") -> Optional[Tensor]:
    """``y`` as a tensor (``None`` stays ``None``), or a ``ValueError`` naming ``what``.

    Refuses strings (``y="cat"``: map class names to indices first), booleans, complex, sparse
    and meta tensors, values that are not numbers,
    and NaN or infinite values (checked for CPU data only, so moving a sample to a GPU stays
    free of device syncs).

    Example:
        >>> as_target(3), as_target([0.5, -1.0]).dtype
        (tensor(3), torch.float32)
    """
    if y is None:
        return None
    if isinstance(y, (str, bytes)):
        raise ValueError(f"{what}: expected {_EXPECTED}, got {type(y).__name__} {y!r}; map class names to class "
                         "indices first")
    try:
        t = y if isinstance(y, Tensor) else torch.as_tensor(y)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{what}: expected {_EXPECTED}, got {type(y).__name__} {_short(y)}") from None
    if t.dtype == torch.bool or t.is_complex() or t.layout != torch.strided or t.is_meta:
        raise ValueError(f"{what}: expected real numbers in a dense tensor, got {_short(y)} ({t.dtype}, {t.layout}"
                         f"{', meta' if t.is_meta else ''}); give class indices as ints")
    if t.device.type == "cpu" and (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what}: expected finite values, got {_short(t.tolist())} (NaN or infinity)")
    return t


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
