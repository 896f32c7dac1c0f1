"""Sequential edges: each token/frame links to its neighbours within a window."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from mmgraph.data.batch import ModalityBatch
from mmgraph.graph.edges.base import EdgeStrategy, Edges, check_edge_limit

__all__ = ["Sequential"]


class Sequential(EdgeStrategy):
    r"""Link element :math:`i` to element :math:`j` of the same sequence when :math:`1 \le |i - j| \le w`.

    For token or frame sequences (text, audio, video). Edges go both ways. The attribute of an
    edge :math:`i \to j` describes the offset :math:`i - j`:

    - ``attr="offset"`` (default): one column, the signed offset :math:`(i - j) / w`;
    - ``attr="onehot"``: :math:`2w` columns, a one-hot of the offset in
      :math:`-w, \dots, -1, 1, \dots, w` (in that order). A message MLP that sees it can treat
      "the previous token" and "the next token" as different relations (e.g. bind a shape word
      to the colour word before it) without first learning to split one signed scalar.

    Args:
        window: The window :math:`w` (``1`` links consecutive elements only).
        attr: ``"offset"`` or ``"onehot"``.
    """

    intra_only = True
    ATTRS = ("offset", "onehot")

    def __init__(self, window: int = 1, attr: str = "offset") -> None:
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise ValueError(f"Sequential: window must be a positive int, got {window!r}")
        if attr not in self.ATTRS:
            raise ValueError(f"Sequential: attr must be one of {list(self.ATTRS)}, got {attr!r}")
        self.window = window
        self.attr = attr
        self.edge_dim = 1 if attr == "offset" else 2 * window

    def edges(self, src: ModalityBatch, dst: ModalityBatch, same: bool, limit: Optional[int] = None) -> Edges:
        """Index arithmetic: each element's at most :math:`2w` neighbours, :math:`O(N w)` time and memory."""
        mask = src.mask
        g, i = mask.nonzero(as_tuple=True)
        w = self.window
        offsets = torch.cat([torch.arange(-w, 0), torch.arange(1, w + 1)]).to(mask.device)
        j = i.unsqueeze(1) + offsets  # (N, 2w), ascending per row
        g = g.unsqueeze(1).expand_as(j)
        inside = (j >= 0) & (j < mask.size(1))
        linked = inside & mask[g, j.clamp(0, mask.size(1) - 1)]
        check_edge_limit(int(linked.sum()), limit)
        return g[linked], i.unsqueeze(1).expand_as(j)[linked], j[linked]

    def edge_attr(self, src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
        offset = i - j
        if self.attr == "offset":
            return (offset.to(src.x.dtype) / self.window).unsqueeze(-1)
        column = torch.where(offset < 0, offset + self.window, offset + self.window - 1)
        return torch.nn.functional.one_hot(column, 2 * self.window).to(src.x.dtype)

    def _repr_args(self) -> dict[str, object]:
        return {"window": self.window} | ({"attr": self.attr} if self.attr != "offset" else {})
