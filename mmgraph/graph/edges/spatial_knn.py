"""Spatial k-nearest-neighbour edges from element positions."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from mmgraph.data.batch import ModalityBatch
from mmgraph.graph.edges._knn import chunked_search, kdtree_search, knn_edges
from mmgraph.graph.edges.base import EdgeStrategy, Edges, relative_position

__all__ = ["SpatialKNN"]


def _distances(src: Tensor, dst: Tensor) -> Tensor:
    """Exact Euclidean distances ``(..., Ls, Ld)`` (``cdist``'s direct formula, never the matrix-product one)."""
    return torch.cdist(src, dst, compute_mode="donot_use_mm_for_euclid_dist")


class SpatialKNN(EdgeStrategy):
    r"""Link each target element to its :math:`k` nearest source elements by Euclidean distance of ``pos``.

    Within a modality (e.g. image regions) each region receives edges from its :math:`k`
    nearest other regions; across modalities each target element receives edges from the
    :math:`k` nearest source elements. Ties go to the lower index, whatever the padding.

    Small samples are scored densely (exact distances, batched over samples); samples with
    more than 65,536 (source, target) pairs are searched in :math:`O(N k \log N)` time and
    :math:`O(N k)` memory: with scipy's ``cKDTree`` on the CPU (candidates re-scored
    exactly), with chunked exact distances on other devices. Both give the dense result.

    Edge attributes: :math:`[p_\text{src} - p_\text{dst}, \lVert p_\text{src} - p_\text{dst} \rVert]`.

    Args:
        k: Neighbours per element (fewer when a sample has fewer candidates).
        pos_dim: Dimension of ``pos`` (2 for image ``(x, y)`` centres).
    """

    requires = ("pos",)

    def __init__(self, k: int = 4, pos_dim: int = 2) -> None:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"SpatialKNN: k must be a positive int, got {k!r}")
        if not isinstance(pos_dim, int) or isinstance(pos_dim, bool) or pos_dim < 1:
            raise ValueError(f"SpatialKNN: pos_dim must be a positive int, got {pos_dim!r}")
        self.k = k
        self.pos_dim = pos_dim
        self.edge_dim = pos_dim + 1

    def edges(self, src: ModalityBatch, dst: ModalityBatch, same: bool, limit: Optional[int] = None) -> Edges:
        # Exact distances: the matrix-product formula cdist uses above 25 rows loses precision
        # for close points, which would pick wrong neighbours and depend on batch padding.
        on_cpu = src.pos.device.type == "cpu"
        search = kdtree_search if on_cpu else chunked_search(_distances, largest=False)
        return knn_edges(src, dst, src.pos, dst.pos, same, self.k, False, _distances, search, limit)

    def edge_attr(self, src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
        return relative_position(src, dst, b, i, j)

    def _repr_args(self) -> dict[str, object]:
        return {"k": self.k} if self.pos_dim == 2 else {"k": self.k, "pos_dim": self.pos_dim}
