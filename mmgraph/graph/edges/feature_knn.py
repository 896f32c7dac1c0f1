"""Feature k-nearest-neighbour edges by cosine similarity."""

from __future__ import annotations

import torch.nn.functional as F
import torch
from torch import Tensor

from mmgraph.data.batch import ModalityBatch
from mmgraph.graph.edges.base import EdgeStrategy, stable_topk_mask, valid_pairs

__all__ = ["FeatureKNN"]


class FeatureKNN(EdgeStrategy):
    r"""Link each target element to the :math:`k` source elements whose features are most similar.

    Similarity is the cosine :math:`\cos(x_i, x_j)` of the raw input features, in pure torch
    (no compiled extensions), batched over samples. Across modalities both must have the
    same feature dimension (e.g. features from a shared encoder such as CLIP).

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

    @staticmethod
    def _similarity(src: ModalityBatch, dst: ModalityBatch, chunk_elements: int = 1 << 24) -> Tensor:
        """Cosine similarities ``(B, Ls, Ld)`` summed in a fixed order.

        A batched matrix product would round differently for different padded lengths, so
        exact ties (e.g. two orthogonal neighbours) could break differently depending on
        the batch. An element-wise product summed over features does not; it is computed
        in chunks of source rows to bound memory.
        """
        a = F.normalize(src.x, dim=-1).unsqueeze(2)  # (B, Ls, 1, D)
        b = F.normalize(dst.x, dim=-1).unsqueeze(1)  # (B, 1, Ld, D)
        b_, ls, _, d = a.shape
        rows = max(1, chunk_elements // max(1, b_ * b.size(2) * d))
        return torch.cat([(a[:, i : i + rows] * b).sum(-1) for i in range(0, ls, rows)], dim=1)

    def adjacency(self, src: ModalityBatch, dst: ModalityBatch, same: bool) -> Tensor:
        sim = self._similarity(src, dst)  # (B, Ls, Ld)
        return stable_topk_mask(sim, valid_pairs(src, dst, same), self.k, largest=True)

    def edge_attr(self, src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
        xs = F.normalize(src.x[b, i], dim=-1)
        xd = F.normalize(dst.x[b, j], dim=-1)
        return (xs * xd).sum(-1, keepdim=True)

    def _repr_args(self) -> dict[str, object]:
        return {"k": self.k}
