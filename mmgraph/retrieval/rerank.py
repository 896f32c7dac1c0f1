"""Re-rank the first stage's top-k items of every query with a pairwise scorer."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from mmgraph.utils.progress import interactive

__all__ = ["rerank"]


def rerank(
    scores: Tensor,
    k: int,
    score_pairs: Callable[[Tensor, Tensor], Tensor],
    batch_size: int = 512,
    progress: bool = False,
) -> Tensor:
    r"""Re-order each query's ``k`` best items by a second-stage scorer.

    The first stage (e.g. a :class:`~mmgraph.retrieval.DualEncoder`) scores every gallery item
    cheaply; the re-ranker (e.g. ``rerank-graph`` over the joint graph of a pair) scores only the
    ``k`` best per query. The result ranks those ``k`` items first, in the re-ranker's order,
    and every other item after them in the first stage's order, so it can be passed to
    :func:`~mmgraph.retrieval.retrieval_metrics` like the first-stage scores.

    Args:
        scores: ``(Q, N)`` first-stage scores.
        k: Items re-scored per query (``1 <= k <= N``).
        score_pairs: ``score_pairs(query_index (P,), item_index (P,)) -> (P,)`` scores of pairs,
            higher is a better match.
        batch_size: Pairs per call of ``score_pairs``.
        progress: Show a progress bar (in a terminal only; not in logs).

    Returns:
        ``(Q, N)`` scores: the re-ranked top-k hold ``k, k-1, ..., 1``, every other item its
        first-stage score shifted below ``0``.
    """
    if not isinstance(scores, Tensor) or scores.dim() != 2 or scores.numel() == 0:
        got = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
        raise ValueError(f"scores: expected a non-empty (num_queries, num_items) tensor, got {got}")
    q, n = scores.shape
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k: expected an int in [1, {n}], got {k!r}")
    s = scores.detach().float().cpu()
    top = s.topk(k, dim=1).indices
    queries = torch.arange(q).repeat_interleave(k)
    items = top.reshape(-1)
    parts = []
    for i in tqdm(range(0, queries.numel(), batch_size), desc="re-ranking", disable=not progress or not interactive(),
                  leave=False):
        out = torch.as_tensor(score_pairs(queries[i : i + batch_size], items[i : i + batch_size])).detach().float().cpu()
        if out.shape != (min(batch_size, queries.numel() - i),):
            raise ValueError(f"score_pairs: expected one score per pair ({min(batch_size, queries.numel() - i)}), "
                             f"got shape {tuple(out.shape)}")
        parts.append(out)
    second = torch.cat(parts).reshape(q, k)
    order = second.argsort(dim=1, descending=True, stable=True)
    values = torch.empty_like(second)
    values.scatter_(1, order, torch.arange(k, 0, -1, dtype=values.dtype).expand(q, k).contiguous())
    result = s - s.max() - 1.0
    result.scatter_(1, top, values)
    return result
