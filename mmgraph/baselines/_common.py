"""Helpers shared by the baseline fusion models (not part of the public API)."""

from __future__ import annotations

from typing import Mapping

from torch import Tensor, nn

from mmgraph.data.batch import MultimodalBatch
from mmgraph.nn.heads import TASKS
from mmgraph.nn.encoders import masked_mean

__all__ = ["check_task", "check_positive_int", "pool_modalities", "short_repr"]


def check_task(task: str) -> str:
    """Return ``task`` if it is one of :data:`~mmgraph.nn.heads.TASKS`, else raise a ``ValueError``."""
    if task not in TASKS:
        raise ValueError(f"task: expected one of {list(TASKS)}, got {task!r}")
    return task


def check_positive_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what}: expected a positive int, got {value!r}")
    return value


def pool_modalities(
    names: list[str], encoded: Mapping[str, Tensor], batch: MultimodalBatch, like: Tensor
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    r"""Masked mean of every modality in ``names`` and its presence indicator.

    A modality absent from ``batch`` (or from a sample) gets a zero mean and presence ``0``.

    Returns:
        ``({name: (B, H)}, {name: (B,)})``, the presence as a float tensor of 0/1.
    """
    b = batch.batch_size
    means: dict[str, Tensor] = {}
    present: dict[str, Tensor] = {}
    for name in names:
        if name in encoded:
            mask = batch[name].mask
            means[name] = masked_mean(encoded[name], mask)
            present[name] = mask.any(dim=1).to(like.dtype)
        else:
            means[name] = like.new_zeros(b, like.size(-1))
            present[name] = like.new_zeros(b)
    return means, present


def short_repr(module: nn.Module, **extra: object) -> str:
    """``Name(in_dims={...}, hidden=..., out_dim=..., task=..., key=value, ...)``."""
    parts = [
        f"in_dims={dict(module.encoders.in_dims)}",  # type: ignore[union-attr]
        f"hidden={module.hidden}",
        f"out_dim={module.out_dim}",
        f"task={module.task!r}",
    ]
    parts += [f"{k}={v!r}" for k, v in extra.items()]
    return f"{module.__class__.__name__}({', '.join(parts)})"
