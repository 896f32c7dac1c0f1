"""Complete connections, within or across modalities."""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from mmgraph.data.batch import ModalityBatch
from mmgraph.graph.edges.base import EdgeStrategy, relative_position, time_relation, valid_pairs

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

    def adjacency(self, src: ModalityBatch, dst: ModalityBatch, same: bool) -> Tensor:
        return valid_pairs(src, dst, same)

    def edge_attr(self, src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Optional[Tensor]:
        if self.attr == "pos":
            return relative_position(src, dst, b, i, j)
        if self.attr == "time":
            return time_relation(src, dst, b, i, j)
        return None

    def _repr_args(self) -> dict[str, object]:
        return {} if self.attr is None else {"attr": self.attr}
