"""Temporal-overlap edges between time-stamped elements (alignment of unaligned sequences)."""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from mmgraph.data.batch import ModalityBatch
from mmgraph.graph.edges._knn import CHUNK_ELEMENTS
from mmgraph.graph.edges.base import EdgeStrategy, Edges, check_edge_limit, sort_edges, time_relation

__all__ = ["TemporalOverlap"]


class TemporalOverlap(EdgeStrategy):
    r"""Link elements whose time spans overlap, as in MTAG's alignment of unaligned sequences.

    Spans :math:`[s_a, e_a]` and :math:`[s_b, e_b]` overlap when their intersection
    :math:`\min(e_a, e_b) - \max(s_a, s_b)` is positive, or is zero and one of them is an
    instant (a zero-length span touching or inside the other). ``tolerance`` widens every
    comparison by that many seconds, so near-misses count too.

    Edge attributes: :math:`[c_\text{src} - c_\text{dst}, \mathrm{IoU}]` (centre offset and
    intersection over union of the spans).

    Args:
        tolerance: Slack in the same units as ``time`` (``0``: strict overlap).
    """

    requires = ("time",)
    edge_dim = 2

    def __init__(self, tolerance: float = 0.0) -> None:
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not math.isfinite(tolerance) or tolerance < 0:
            raise ValueError(f"TemporalOverlap: tolerance must be a finite number >= 0, got {tolerance!r}")
        self.tolerance = float(tolerance)

    def _overlap(self, ts: Tensor, td: Tensor) -> Tensor:
        """The overlap rule for spans ``ts`` and ``td`` of the same shape ``(..., 2)``."""
        inter = (ts[..., 1].minimum(td[..., 1]) - ts[..., 0].maximum(td[..., 0])) + self.tolerance
        instant = (ts[..., 1] == ts[..., 0]) | (td[..., 1] == td[..., 0])
        return (inter > 0) | ((inter == 0) & instant)

    def edges(self, src: ModalityBatch, dst: ModalityBatch, same: bool, limit: Optional[int] = None) -> Edges:
        r"""Sorted spans: each target's candidates are one range of the sources sorted by start.

        A source can overlap target :math:`[s, e]` only if it starts by :math:`e + \text{tol}`
        (a prefix of the sources sorted by start) and the running maximum of the ends reaches
        :math:`s - \text{tol}` (a suffix of that order); the rule is then checked exactly on the
        range between. For sequences, whose spans rarely nest, the ranges hold little more
        than the edges: :math:`O((N + E) \log N)` time, memory bounded by chunks.
        """
        inf = float("inf")
        time = src.time
        start = time[..., 0].masked_fill(~src.mask, inf)
        order = torch.argsort(start, dim=1, stable=True)  # (B, Ls): padding last
        ends = torch.gather(time[..., 1].masked_fill(~src.mask, -inf), 1, order)
        reach = torch.cummax(ends, dim=1).values
        scale = max(float(src.time.abs().max()) if src.time.numel() else 0.0,
                    float(dst.time.abs().max()) if dst.time.numel() else 0.0)
        slack = 1e-5 * (scale + self.tolerance) + 1e-30
        hi = torch.searchsorted(torch.gather(start, 1, order).contiguous(),
                                (dst.time[..., 1] + (self.tolerance + slack)).to(start.dtype).contiguous(), right=True)
        lo = torch.searchsorted(reach.contiguous(), (dst.time[..., 0] - (self.tolerance + slack)).to(start.dtype).contiguous())
        count = ((hi - lo).clamp(min=0) * dst.mask).reshape(-1)  # candidates per (sample, target)
        parts = []
        for rows in _chunks(count, CHUNK_ELEMENTS):
            reps = count[rows]
            owner = torch.repeat_interleave(rows, reps)
            step = torch.arange(owner.numel(), device=owner.device) - (torch.cumsum(reps, 0) - reps).repeat_interleave(reps)
            g, j = owner // dst.mask.size(1), owner % dst.mask.size(1)
            i = order[g, lo.reshape(-1)[owner] + step]
            keep = self._overlap(src.time[g, i], dst.time[g, j])
            if same:
                keep &= i != j
            parts.append((g[keep], i[keep], j[keep]))
        g, i, j = (torch.cat(t) for t in zip(*parts)) if parts else (count.new_zeros(0),) * 3
        check_edge_limit(g.numel(), limit)
        return sort_edges(g, i, j, src.mask.size(1), dst.mask.size(1))

    def edge_attr(self, src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
        return time_relation(src, dst, b, i, j)

    def _repr_args(self) -> dict[str, object]:
        return {} if self.tolerance == 0 else {"tolerance": self.tolerance}


def _chunks(count: Tensor, budget: int) -> list[Tensor]:
    """Indices of ``count`` split into consecutive groups whose counts sum to about ``budget``."""
    if count.numel() == 0:
        return []
    total = torch.cumsum(count, 0)
    group = torch.div(total - 1, max(1, budget), rounding_mode="floor").clamp(min=0)
    bounds = torch.unique_consecutive(group, return_counts=True)[1].tolist()
    idx = torch.arange(count.numel(), device=count.device)
    return [part for part in idx.split(bounds) if int(count[part].sum())]
