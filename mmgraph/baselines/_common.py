"""Helpers shared by the baseline fusion models (not part of the public API)."""

from __future__ import annotations

from typing import Mapping, Optional

import torch
from torch import Tensor

from mmgraph.data.batch import MultimodalBatch
from mmgraph.nn.encoders import masked_mean

__all__ = ["pool_modalities", "choose_query", "join_modalities"]


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


def choose_query(names: list[str], query: Optional[str], model: str, others: str) -> str:
    """The query modality of a query/context model: ``query``, or without one the first name in sorted order.

    No modality name is special: a model that should attend from the text or the question is
    told so with ``query=``, as the benchmark tasks do.

    Raises:
        ValueError: with fewer than 2 modalities, or a ``query`` that is not one of ``names``.
    """
    if len(names) < 2:
        raise ValueError(
            f"{model} needs at least 2 modalities (a query and {others}), "
            f"got in_dims with only {names}; use a single-modality model instead"
        )
    if query is None:
        query = sorted(names)[0]
    if query not in names:
        raise ValueError(f"query: expected one of the modalities {names}, got {query!r}")
    return query


def join_modalities(batch: MultimodalBatch, encoded: Mapping[str, Tensor], names: list[str], type_embedding: Tensor,
                    lead: Tensor) -> tuple[Tensor, Tensor]:
    """``lead`` ``(B, K, H)`` followed by the elements of every modality of ``names`` in ``encoded``.

    Modality ``names[i]``'s elements get ``type_embedding[i]`` added. Returns the elements
    ``(B, K + L, H)`` and their mask ``(B, K + L)`` (``True`` = real; the ``K`` lead elements are real).
    """
    like = next(iter(encoded.values()))
    parts = [lead.to(like.dtype)]
    masks = [torch.ones(lead.shape[:2], dtype=torch.bool, device=like.device)]
    for i, name in enumerate(names):
        if name in encoded:
            parts.append(encoded[name] + type_embedding[i].to(like.dtype))
            masks.append(batch[name].mask)
    return torch.cat(parts, dim=1), torch.cat(masks, dim=1)
