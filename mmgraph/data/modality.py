"""A single modality of one sample: a set of elements with features and optional geometry."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import Tensor

from mmgraph.utils.checks import check_dense, check_features

__all__ = ["Modality", "as_float_tensor"]


_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def as_float_tensor(value: Any, what: str) -> Tensor:
    """Convert ``value`` to a floating-point tensor, or raise a ``ValueError`` naming ``what``."""
    if isinstance(value, Tensor):
        t = value
    else:
        try:
            t = torch.as_tensor(value)
        except Exception as exc:  # noqa: BLE001 - re-raised with context
            raise ValueError(f"{what}: expected a tensor or array, got {type(value).__name__}") from exc
    check_dense(t, what)
    if t.dtype == torch.bool or not (t.is_floating_point() or t.dtype in _INT_DTYPES):
        raise ValueError(f"{what}: expected real-valued numbers, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t


_convert = as_float_tensor


_check_finite = check_features  # NaN/Inf and values beyond FEATURE_LIMIT


class Modality:
    r"""The elements of one modality in one sample (tokens, regions, frames, ...).

    Args:
        x: Element features of shape ``(num_elements, feature_dim)``, from any encoder.
        pos: Optional spatial positions of shape ``(num_elements, pos_dim)``, e.g. the
            normalised ``(x, y)`` centres of image regions. Used by spatial edge strategies.
        time: Optional time spans of shape ``(num_elements, 2)`` holding ``(start, end)``
            (a 1-D tensor of time stamps is read as zero-length spans). Used by temporal
            edge strategies to align modalities sampled at different rates.
        labels: Optional human-readable label per element (e.g. the token strings), kept
            for visualisation.

    Shapes:
        - **x:** :math:`(N, D)`
        - **pos:** :math:`(N, P)`
        - **time:** :math:`(N, 2)` with ``start <= end``

    Features may be any real dtype: integers become the default float dtype, and floating
    dtypes (float16, bfloat16, float32, float64) are kept; a model casts them to its own dtype.

    Validation (wrong rank, an empty modality, NaN/Inf values or values beyond
    :data:`~mmgraph.utils.checks.FEATURE_LIMIT`, ``pos``/``time``/``labels``
    whose length differs from ``x``, ``start > end``) happens in :meth:`check`, which
    :class:`~mmgraph.MultimodalSample` calls with the modality's name so that every error
    says which modality is wrong.
    """

    __slots__ = ("x", "pos", "time", "labels")

    def __init__(
        self,
        x: Tensor,
        pos: Optional[Tensor] = None,
        time: Optional[Tensor] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        self.x: Tensor = _convert(x, "x")
        self.pos: Optional[Tensor] = None if pos is None else _convert(pos, "pos")
        self.time: Optional[Tensor] = None if time is None else _convert(time, "time")
        if self.time is not None and self.time.dim() == 1:
            self.time = torch.stack([self.time, self.time], dim=-1)
        self.labels: Optional[list[str]] = None if labels is None else [str(s) for s in labels]

    def check(self, name: str = "modality") -> "Modality":
        """Validate shapes and values, raising a ``ValueError`` that names the modality.

        :class:`MultimodalSample` calls this for every modality it holds, so errors read
        ``modality 'image': pos: expected shape (25, pos_dim) ..., got (24, 2)``.
        """
        where = f"modality {name!r}"
        x = self.x
        if x.dim() != 2:
            raise ValueError(
                f"{where}: x: expected shape (num_elements, feature_dim), got a tensor of rank {x.dim()} "
                f"with shape {tuple(x.shape)}"
            )
        if x.size(0) == 0:
            raise ValueError(f"{where}: x: expected at least one element, got 0 (leave a missing modality out instead)")
        if x.size(1) == 0:
            raise ValueError(f"{where}: x: expected feature_dim >= 1, got 0")
        _check_finite(x, f"{where}: x")
        n = x.size(0)
        if self.pos is not None:
            pos = self.pos
            if pos.dim() != 2 or pos.size(0) != n:
                raise ValueError(
                    f"{where}: pos: expected shape ({n}, pos_dim) to match x with {n} elements, "
                    f"got {tuple(pos.shape)}"
                )
            _check_finite(pos, f"{where}: pos")
        if self.time is not None:
            time = self.time
            if time.dim() != 2 or time.size(0) != n or time.size(1) != 2:
                raise ValueError(
                    f"{where}: time: expected shape ({n}, 2) holding (start, end) for x with {n} elements, "
                    f"got {tuple(time.shape)}"
                )
            _check_finite(time, f"{where}: time")
            bad = time[:, 1] < time[:, 0]
            if bool(bad.any()):
                i = int(bad.nonzero()[0])
                raise ValueError(
                    f"{where}: time: expected start <= end, got span {i} = "
                    f"({float(time[i, 0])}, {float(time[i, 1])})"
                )
        if self.labels is not None and len(self.labels) != n:
            raise ValueError(f"{where}: labels: expected {n} labels to match x, got {len(self.labels)}")
        return self

    @property
    def num_elements(self) -> int:
        """Number of elements (tokens, regions, frames, ...)."""
        return self.x.size(0)

    def __len__(self) -> int:
        return self.num_elements

    @property
    def feature_dim(self) -> int:
        """Feature dimension ``D`` of ``x``."""
        return self.x.size(1)

    def to(self, *args: Any, **kwargs: Any) -> "Modality":
        """Return a copy with every tensor moved/cast like :meth:`torch.Tensor.to`."""
        out = Modality.__new__(Modality)
        out.x = self.x.to(*args, **kwargs)
        out.pos = None if self.pos is None else self.pos.to(*args, **kwargs)
        out.time = None if self.time is None else self.time.to(*args, **kwargs)
        out.labels = self.labels
        return out

    def __repr__(self) -> str:
        parts = [f"x={list(self.x.shape)}"]
        if self.pos is not None:
            parts.append(f"pos={list(self.pos.shape)}")
        if self.time is not None:
            parts.append(f"time={list(self.time.shape)}")
        if self.labels is not None:
            parts.append("labels")
        return f"Modality({', '.join(parts)})"
