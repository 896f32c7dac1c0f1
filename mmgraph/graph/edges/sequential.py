"""Sequential edges: each token/frame links to its neighbours within a window."""

from __future__ import annotations

import torch
from torch import Tensor

from mmgraph.data.batch import ModalityBatch
from mmgraph.graph.edges.base import EdgeStrategy, valid_pairs

__all__ = ["Sequential"]


class Sequential(EdgeStrategy):
    r"""Link element :math:`i` to element :math:`j` of the same sequence when :math:`1 \le |i - j| \le w`.

    For token or frame sequences (text, audio, video). Edges go both ways; the attribute
    of an edge :math:`i \to j` is the signed offset :math:`(i - j) / w`.

    Args:
        window: The window :math:`w` (``1`` links consecutive elements only).
    """

    edge_dim = 1
    intra_only = True

    def __init__(self, window: int = 1) -> None:
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise ValueError(f"Sequential: window must be a positive int, got {window!r}")
        self.window = window

    def adjacency(self, src: ModalityBatch, dst: ModalityBatch, same: bool) -> Tensor:
        n = src.mask.size(1)
        idx = torch.arange(n, device=src.mask.device)
        offset = (idx.unsqueeze(1) - idx.unsqueeze(0)).abs()
        near = (offset >= 1) & (offset <= self.window)
        return valid_pairs(src, dst, same) & near.unsqueeze(0)

    def edge_attr(self, src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
        return ((i - j).to(src.x.dtype) / self.window).unsqueeze(-1)

    def _repr_args(self) -> dict[str, object]:
        return {"window": self.window}
