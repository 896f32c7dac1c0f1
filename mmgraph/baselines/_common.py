"""Helpers shared by the baseline fusion models (not part of the public API)."""

from __future__ import annotations

from typing import Mapping

from torch import Tensor

from mmgraph.data.batch import MultimodalBatch
from mmgraph.nn.encoders import masked_mean

__all__ = ["pool_modalities"]


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
