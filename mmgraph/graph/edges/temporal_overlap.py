"""Temporal-overlap edges between time-stamped elements (alignment of unaligned sequences)."""

from __future__ import annotations

import math

from torch import Tensor

from mmgraph.data.batch import ModalityBatch
from mmgraph.graph.edges.base import EdgeStrategy, time_relation, valid_pairs

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

    def adjacency(self, src: ModalityBatch, dst: ModalityBatch, same: bool) -> Tensor:
        ts, td = src.time.unsqueeze(2), dst.time.unsqueeze(1)  # (B, Ls, 1, 2), (B, 1, Ld, 2)
        inter = (ts[..., 1].minimum(td[..., 1]) - ts[..., 0].maximum(td[..., 0])) + self.tolerance
        instant = (ts[..., 1] == ts[..., 0]) | (td[..., 1] == td[..., 0])
        overlap = (inter > 0) | ((inter == 0) & instant)
        return valid_pairs(src, dst, same) & overlap

    def edge_attr(self, src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
        return time_relation(src, dst, b, i, j)

    def _repr_args(self) -> dict[str, object]:
        return {} if self.tolerance == 0 else {"tolerance": self.tolerance}
