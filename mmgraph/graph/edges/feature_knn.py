"""Feature k-nearest-neighbour edges by cosine similarity."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmgraph.data.batch import ModalityBatch
from mmgraph.graph.edges._knn import CHUNK_ELEMENTS, candidate_search, knn_edges
from mmgraph.graph.edges.base import EdgeStrategy, Edges

__all__ = ["FeatureKNN"]


def _similarity(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarities ``(B, Ls, Ld)`` of normalised features, summed in a fixed order.

    A batched matrix product would round differently for different padded lengths, so
    exact ties (e.g. two orthogonal neighbours) could break differently depending on
    the batch. An element-wise product summed over features does not; it is computed
    in chunks of source rows to bound memory.
    """
    a, b = a.unsqueeze(2), b.unsqueeze(1)  # (B, Ls, 1, D), (B, 1, Ld, D)
    rows = max(1, CHUNK_ELEMENTS // max(1, a.size(0) * b.size(2) * a.size(3)))
    return torch.cat([(a[:, i : i + rows] * b).sum(-1) for i in range(0, a.size(1), rows)], dim=1)


def _pair_similarity(a: Tensor, b: Tensor) -> Tensor:
    """The same sum for listed pairs: ``(P, D), (P, D) -> (P,)``."""
    return (b * a).sum(-1)


class FeatureKNN(EdgeStrategy):
    r"""Link each target element to the :math:`k` source elements whose features are most similar.

    Similarity is the cosine :math:`\cos(x_i, x_j)` of the raw input features, in pure torch
    (no compiled extensions), batched over samples. Across modalities both must have the
    same feature dimension (e.g. features from a shared encoder such as CLIP). Ties go to the
    lower index, whatever the padding.

    Samples with more than 65,536 (source, target) pairs are searched in chunks: a matrix
    product proposes the candidates, which are re-scored exactly, so memory stays bounded
    and the result is the dense one.

    Edge attribute: the cosine similarity.

    Args:
        k: Neighbours per element (fewer when a sample has fewer candidates).
    """

    edge_dim = 1

    def __init__(self, k: int = 4) -> None:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"FeatureKNN: k must be a positive int, got {k!r}")
        self.k = k

    def check(self, src_name: str, src: ModalityBatch, dst_name: str, dst: ModalityBatch) -> None:
        super().check(src_name, src, dst_name, dst)
        if src.feature_dim != dst.feature_dim:
            raise ValueError(
                f"{self!r} compares features of {src_name!r} and {dst_name!r}, which need the same dimension; "
                f"got {src.feature_dim} and {dst.feature_dim}"
            )

    def edges(self, src: ModalityBatch, dst: ModalityBatch, same: bool, limit: Optional[int] = None) -> Edges:
        a, b = F.normalize(src.x, dim=-1), F.normalize(dst.x, dim=-1)
        tol = 8 * a.size(-1) * torch.finfo(a.dtype).eps
        search = candidate_search(lambda d, s: d @ s.t(), _pair_similarity, tol)
        return knn_edges(src, dst, a, b, same, self.k, True, _similarity, search, limit)

    def edge_attr(self, src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
        xs = F.normalize(src.x[b, i], dim=-1)
        xd = F.normalize(dst.x[b, j], dim=-1)
        return (xs * xd).sum(-1, keepdim=True)

    def _repr_args(self) -> dict[str, object]:
        return {"k": self.k}
