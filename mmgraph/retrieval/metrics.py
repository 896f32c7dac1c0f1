"""Retrieval metrics: Recall@K (scikit-learn's top-k accuracy) and mean rank."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["retrieval_metrics"]


def retrieval_metrics(scores: Tensor, targets: Tensor, ks: Sequence[int] = (1, 5, 10), prefix: str = "") -> dict[str, float]:
    r"""Recall@K and mean rank of queries with one relevant gallery item each.

    ``scores[q, j]`` scores gallery item ``j`` for query ``q``; ``targets[q]`` is the relevant
    item. Recall@K (``K >= N`` gives 1) is the fraction of queries whose relevant item is among the K best
    (scikit-learn's ``top_k_accuracy_score`` with the gallery items as classes); the rank of a
    query is ``1 +`` the number of items scored strictly higher than its relevant one, and
    ``mean_rank`` averages it.

    Returns:
        ``{f"{prefix}r{k}": ..., f"{prefix}mean_rank": ...}``, e.g. ``t2i_r1`` with ``prefix="t2i_"``.
    """
    if not isinstance(scores, Tensor) or scores.dim() != 2 or scores.size(0) == 0:
        got = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f"scores: expected a non-empty (num_queries, num_items) tensor, got {got}")
    targets = torch.as_tensor(targets).long().reshape(-1)
    q, n = scores.shape
    if targets.numel() != q:
        raise ValueError(f"targets: expected one relevant item per query ({q}), got {targets.numel()}")
    if int(targets.min()) < 0 or int(targets.max()) >= n:
        raise ValueError(f"targets: expected item indices in [0, {n}), got min {int(targets.min())} max {int(targets.max())}")
    from sklearn.metrics import top_k_accuracy_score  # imported on first use: a slow import

    s = scores.detach().float().cpu()
    out: dict[str, float] = {}
    labels = np.arange(n)
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"ks: expected positive ints, got {k!r}")
        if k >= n:
            out[f"{prefix}r{k}"] = 1.0
        elif n == 2:  # scikit-learn reads two items as a binary problem; k = 1: the relevant item scored highest (ties count, as there)
            out[f"{prefix}r{k}"] = float((s.gather(1, targets[:, None]) >= s.gather(1, 1 - targets[:, None])).float().mean())
        else:
            out[f"{prefix}r{k}"] = float(top_k_accuracy_score(targets.numpy(), s.numpy(), k=k, labels=labels))
    relevant = s.gather(1, targets[:, None])
    out[f"{prefix}mean_rank"] = float((1 + (s > relevant).sum(1)).float().mean())
    return out
