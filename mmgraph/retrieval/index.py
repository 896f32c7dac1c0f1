"""A gallery of embeddings that can be queried in batches (cosine similarity, top-k)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["GalleryIndex"]


class GalleryIndex:
    r"""Index a gallery of embeddings (images, captions) and retrieve the nearest items for queries.

    Embeddings are L2-normalised on the way in, so scores are cosine similarities; queries are
    scored against the whole gallery in batches of ``batch_size`` (a ``(batch, gallery)`` score
    block at a time, never the full ``(queries, gallery)`` matrix unless asked for).

    Args:
        embeddings: ``(N, D)`` gallery embeddings.
        ids: Optional id per item (default ``0 .. N-1``), returned by :meth:`query`.
        batch_size: Queries scored per block.

    Example:
        >>> import torch
        >>> from mmgraph.retrieval import GalleryIndex
        >>> index = GalleryIndex(torch.eye(4), ids=["a", "b", "c", "d"])
        >>> index.query(torch.tensor([[0.1, 0.9, 0.0, 0.0]]), k=2)[1]
        [['b', 'a']]
    """

    def __init__(self, embeddings: Tensor, ids: Optional[Sequence[object]] = None, batch_size: int = 1024) -> None:
        if not isinstance(embeddings, Tensor) or embeddings.dim() != 2 or embeddings.size(0) == 0:
            got = tuple(embeddings.shape) if isinstance(embeddings, Tensor) else type(embeddings).__name__
            raise ValueError(f"embeddings: expected a non-empty (num_items, dim) tensor, got {got}")
        if not torch.isfinite(embeddings).all():
            raise ValueError("embeddings: expected finite values, got NaN/Inf")
        if ids is not None and len(ids) != embeddings.size(0):
            raise ValueError(f"ids: expected one id per item ({embeddings.size(0)}), got {len(ids)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        self.embeddings = F.normalize(embeddings.detach().float(), dim=-1)
        self.ids = list(ids) if ids is not None else list(range(embeddings.size(0)))
        self.batch_size = batch_size

    def __len__(self) -> int:
        return self.embeddings.size(0)

    @property
    def dim(self) -> int:
        return self.embeddings.size(1)

    def _check(self, queries: Tensor) -> Tensor:
        if not isinstance(queries, Tensor) or queries.dim() != 2 or queries.size(1) != self.dim:
            got = tuple(queries.shape) if isinstance(queries, Tensor) else type(queries).__name__
            raise ValueError(f"queries: expected a (num_queries, {self.dim}) tensor, got {got}")
        return F.normalize(queries.detach().float().to(self.embeddings.device), dim=-1)

    def scores(self, queries: Tensor) -> Tensor:
        """The full ``(num_queries, num_items)`` cosine-similarity matrix (computed in batches)."""
        q = self._check(queries)
        return torch.cat([q[i : i + self.batch_size] @ self.embeddings.T for i in range(0, q.size(0), self.batch_size)])

    def query(self, queries: Tensor, k: int = 10) -> tuple[Tensor, list[list[object]]]:
        """The ``k`` best items per query: ``(scores (Q, k), [[id, ...] per query])``, best first."""
        q = self._check(queries)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(self):
            raise ValueError(f"k: expected an int in [1, {len(self)}], got {k!r}")
        top_scores, top_index = [], []
        for i in range(0, q.size(0), self.batch_size):
            s, idx = (q[i : i + self.batch_size] @ self.embeddings.T).topk(k, dim=-1)
            top_scores.append(s)
            top_index.append(idx)
        index = torch.cat(top_index) if top_index else torch.empty(0, k, dtype=torch.long)
        scores = torch.cat(top_scores) if top_scores else torch.empty(0, k)
        return scores, [[self.ids[j] for j in row] for row in index.tolist()]

    def __repr__(self) -> str:
        return f"GalleryIndex(items={len(self)}, dim={self.dim})"
