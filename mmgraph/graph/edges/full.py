"""Complete connections, within or across modalities."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from mmgraph.data.batch import ModalityBatch
from mmgraph.graph.edges.base import EdgeStrategy, Edges, check_edge_limit, relative_position, time_relation

__all__ = ["Full"]

_ATTRS = (None, "pos", "time")


class Full(EdgeStrategy):
    r"""Link every source element to every target element (no self loops within a modality).

    Args:
        attr: Optional edge attributes: ``"pos"`` gives
            :math:`[p_\text{src} - p_\text{dst}, \lVert p_\text{src} - p_\text{dst} \rVert]`
            (both modalities need ``pos``), ``"time"`` gives the centre offset and IoU of
            the two spans (both need ``time``), ``None`` gives none.
        pos_dim: Dimension of ``pos`` when ``attr="pos"``.
    """

    def __init__(self, attr: Optional[str] = None, pos_dim: int = 2) -> None:
        if attr not in _ATTRS:
            raise ValueError(f"Full: attr must be one of {list(_ATTRS)}, got {attr!r}")
        if not isinstance(pos_dim, int) or isinstance(pos_dim, bool) or pos_dim < 1:
            raise ValueError(f"Full: pos_dim must be a positive int, got {pos_dim!r}")
        self.attr = attr
        self.pos_dim = pos_dim if attr == "pos" else None
        self.requires = (attr,) if attr else ()
        self.edge_dim = {None: 0, "pos": pos_dim + 1, "time": 2}[attr]

    def edges(self, src: ModalityBatch, dst: ModalityBatch, same: bool, limit: Optional[int] = None) -> Edges:
        """Every pair of real elements per sample, by index arithmetic; the count is checked before any is made."""
        sg, si = src.mask.nonzero(as_tuple=True)
        dg, dj = dst.mask.nonzero(as_tuple=True)
        size = src.mask.size(0)
        per_sample = torch.bincount(dg, minlength=size)
        first = torch.cumsum(per_sample, 0) - per_sample  # where each sample's targets start in dj
        fan = per_sample[sg]  # targets of each source element's sample
        total = int(fan.sum())
        check_edge_limit(total - (si.numel() if same else 0), limit)
        owner = torch.repeat_interleave(torch.arange(si.numel(), device=si.device), fan, output_size=total)
        k = torch.arange(total, device=si.device) - (torch.cumsum(fan, 0) - fan)[owner]
        g, i, j = sg[owner], si[owner], dj[first[sg[owner]] + k]
        if same:
            keep = i != j
            g, i, j = g[keep], i[keep], j[keep]
        return g, i, j

    def edge_attr(self, src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Optional[Tensor]:
        if self.attr == "pos":
            return relative_position(src, dst, b, i, j)
        if self.attr == "time":
            return time_relation(src, dst, b, i, j)
        return None

    def _repr_args(self) -> dict[str, object]:
        return {} if self.attr is None else {"attr": self.attr}
