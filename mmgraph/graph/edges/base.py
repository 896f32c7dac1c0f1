"""The edge-strategy interface and the helpers strategies share."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from mmgraph.data.batch import ModalityBatch

__all__ = [
    "EdgeStrategy", "EdgeLimitExceeded", "Edges", "check_edge_limit", "valid_pairs", "relative_position",
    "time_relation", "stable_topk_mask", "sort_edges", "select_k",
]

#: ``(sample, i, j)``: element ``i`` of the source modality links to element ``j`` of the target
#: modality in sample ``sample``; positions index the padded batch, sorted by ``(sample, i, j)``.
Edges = tuple[Tensor, Tensor, Tensor]


class EdgeLimitExceeded(ValueError):
    """Raised by a strategy that would build more edges than the builder allows (``count`` of them)."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"{count:,} edges, more than max_edges={limit:,}")
        self.count, self.limit = count, limit


def check_edge_limit(count: int, limit: Optional[int]) -> None:
    """Raise :class:`EdgeLimitExceeded` if ``count`` edges exceed ``limit`` (``None``: no limit)."""
    if limit is not None and count > limit:
        raise EdgeLimitExceeded(int(count), int(limit))


class EdgeStrategy:
    r"""Decides which elements of a source modality send messages to which elements of a target.

    A strategy works on padded batches, so one call builds the edges of every sample at
    once. :meth:`edges` returns the linked positions ``(sample, i, j)`` (element ``i`` of the
    source links to element ``j`` of the target in ``sample``), sorted lexicographically and
    never on padding, in time and memory proportional to the number of elements and edges;
    :meth:`edge_attr` returns the attributes of the listed edges.

    A new strategy may implement :meth:`adjacency` instead (a boolean ``(B, L_src, L_dst)``
    tensor, ``False`` on padding): the default :meth:`edges` reads the links from it, at the
    cost of :math:`O(B L_\text{src} L_\text{dst})` memory.

    Subclasses set :attr:`edge_dim` (number of attribute columns, ``0`` for none),
    :attr:`requires` (``"pos"`` and/or ``"time"``) and :attr:`intra_only`.
    """

    #: Number of edge-attribute columns this strategy produces (0: no attributes).
    edge_dim: int = 0
    #: Element metadata both endpoint modalities must carry ("pos", "time").
    requires: tuple[str, ...] = ()
    #: True for strategies that only make sense within one modality (e.g. sequences).
    intra_only: bool = False

    def edges(self, src: ModalityBatch, dst: ModalityBatch, same: bool, limit: Optional[int] = None) -> Edges:
        """The links ``(sample, i, j)`` sorted by ``(sample, i, j)``; ``same`` is True for intra-modal edges.

        Raises :class:`EdgeLimitExceeded` when there would be more than ``limit`` edges.
        """
        adj = self.adjacency(src, dst, same)
        check_edge_limit(int(adj.sum()), limit)
        g, i, j = adj.nonzero(as_tuple=True)
        return g, i, j

    def adjacency(self, src: ModalityBatch, dst: ModalityBatch, same: bool) -> Tensor:
        """Boolean links of shape ``(B, L_src, L_dst)`` (dense; for small inputs and tests)."""
        b, ls, ld = src.mask.size(0), src.mask.size(1), dst.mask.size(1)
        g, i, j = self.edges(src, dst, same)
        adj = torch.zeros(b, ls, ld, dtype=torch.bool, device=src.mask.device)
        adj[g, i, j] = True
        return adj

    def edge_attr(self, src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Optional[Tensor]:
        """Attributes ``(E, edge_dim)`` of the edges ``(b, i) -> (b, j)``, or ``None`` if ``edge_dim == 0``."""
        return None

    def check(self, src_name: str, src: ModalityBatch, dst_name: str, dst: ModalityBatch) -> None:
        """Raise a ``ValueError`` if the modalities lack what this strategy needs."""
        for key in self.requires:
            for name, mb in ((src_name, src), (dst_name, dst)):
                if getattr(mb, key) is None:
                    raise ValueError(
                        f"{self!r} on ({src_name!r}, {dst_name!r}) needs {key} for modality {name!r}, "
                        f"which has none: pass Modality(x, {key}=...)"
                    )
        pos_dim = getattr(self, "pos_dim", None)
        if pos_dim is not None and "pos" in self.requires:
            for name, mb in ((src_name, src), (dst_name, dst)):
                got = mb.pos.size(-1)
                if got != pos_dim:
                    raise ValueError(
                        f"{self!r} expects pos of dimension {pos_dim} for modality {name!r}, got {got}; "
                        f"pass pos_dim={got}"
                    )

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and repr(self) == repr(other)

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._repr_args().items())
        return f"{self.__class__.__name__}({args})"

    def _repr_args(self) -> dict[str, object]:
        return {}


def valid_pairs(src: ModalityBatch, dst: ModalityBatch, same: bool, self_loops: bool = False) -> Tensor:
    """``(B, L_src, L_dst)`` mask of element pairs that both exist (without ``i == j`` when ``same``)."""
    valid = src.mask.unsqueeze(2) & dst.mask.unsqueeze(1)
    if same and not self_loops:
        eye = torch.eye(valid.size(1), dtype=torch.bool, device=valid.device)
        valid = valid & ~eye
    return valid


def stable_topk_mask(score: Tensor, allowed: Tensor, k: int, largest: bool) -> Tensor:
    r"""For every target column, mark the ``k`` best-scoring allowed sources.

    Ties are broken by the lower source index, so the result does not depend on how much
    padding a batch has: every source strictly better than the :math:`k`-th best score is
    kept, then the sources equal to it in index order until there are :math:`k`.

    Args:
        score: ``(B, L_src, L_dst)`` scores.
        allowed: ``(B, L_src, L_dst)`` mask of candidate pairs.
        k: Neighbours per target (fewer where fewer candidates exist).
        largest: Keep the largest scores (similarities) instead of the smallest (distances).
    """
    if score.size(1) == 0:
        return allowed.clone()
    s = score if largest else -score
    s = s.masked_fill(~allowed, float("-inf"))
    k = min(k, s.size(1))
    kth = s.topk(k, dim=1).values[:, k - 1 : k, :]  # (B, 1, L_dst)
    better = s > kth
    tied = (s == kth) & allowed
    room = k - better.sum(dim=1, keepdim=True)
    return (better | (tied & (tied.cumsum(dim=1) <= room))) & allowed


def select_k(rows: Tensor, cols: Tensor, score: Tensor, k: int, largest: bool) -> Tensor:
    """Among candidate pairs ``(rows, cols)`` with ``score``, the indices of the ``k`` best per row.

    The best are the largest (or smallest) scores, ties to the lower column; rows with fewer
    candidates keep all of them. The indices come back sorted by ``(row, col)``.
    """
    if rows.numel() == 0:
        return rows.new_zeros(0)
    order = torch.argsort(cols, stable=True)
    order = order[torch.argsort(score[order], stable=True, descending=largest)]
    order = order[torch.argsort(rows[order], stable=True)]
    sorted_rows = rows[order]
    counts = torch.bincount(sorted_rows, minlength=int(sorted_rows[-1]) + 1)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(order.numel(), device=order.device) - starts[sorted_rows]
    keep = order[rank < k]
    return keep[torch.argsort(rows[keep] * (int(cols.max()) + 1) + cols[keep])]


def sort_edges(g: Tensor, i: Tensor, j: Tensor, len_src: int, len_dst: int) -> Edges:
    """``(g, i, j)`` reordered lexicographically (edges must be distinct)."""
    order = torch.argsort((g * len_src + i) * len_dst + j)
    return g[order], i[order], j[order]


def relative_position(src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """``[pos_src - pos_dst, ||pos_src - pos_dst||]`` per edge: ``(E, pos_dim + 1)``."""
    delta = src.pos[b, i] - dst.pos[b, j]
    return torch.cat([delta, delta.norm(dim=-1, keepdim=True)], dim=-1)


def time_relation(src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
    r"""``[center_src - center_dst, IoU(span_src, span_dst)]`` per edge: ``(E, 2)``.

    The IoU of two spans is their intersection over their union (0 when disjoint; 1 for
    identical spans, including identical time stamps).
    """
    ts, td = src.time[b, i], dst.time[b, j]
    center = (ts.sum(-1) - td.sum(-1)) / 2
    inter = (torch.minimum(ts[:, 1], td[:, 1]) - torch.maximum(ts[:, 0], td[:, 0])).clamp(min=0)
    union = torch.maximum(ts[:, 1], td[:, 1]) - torch.minimum(ts[:, 0], td[:, 0])
    iou = torch.where(union > 0, inter / union.clamp(min=1e-12), (ts == td).all(-1).to(ts.dtype))
    return torch.stack([center, iou], dim=-1)
