"""Raw (not yet element-wise) modality input, shared by several samples of a batch."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["RawModality"]


class RawModality:
    r"""Raw input of one modality that a model's *extractor* turns into elements (e.g. pixels → regions).

    Several samples may share one item — e.g. the 20 questions about one image — so the
    items are stored once and ``index`` says which item each sample uses; an extractor
    (such as :class:`~mmgraph.nn.GridCNN`) then encodes every item once per batch.

    Args:
        data: The items, any shape with the item as the first dimension, e.g. images
            :math:`(K, 3, H, W)`.
        index: Item of each sample, :math:`(B,)` with values in ``[0, K)``.
        name: Modality name for error messages.
    """

    __slots__ = ("data", "index")

    def __init__(self, data: Tensor, index: Tensor, name: str = "modality") -> None:
        where = f"raw modality {name!r}"
        if not isinstance(data, Tensor) or data.dim() < 1 or data.size(0) == 0:
            got = tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__
            raise ValueError(f"{where}: data: expected a tensor with at least one item (K, ...), got {got}")
        if not isinstance(index, Tensor) or index.dim() != 1 or index.dtype not in (torch.int32, torch.int64):
            got = (tuple(index.shape), index.dtype) if isinstance(index, Tensor) else type(index).__name__
            raise ValueError(f"{where}: index: expected a 1-D integer tensor (one item per sample), got {got}")
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= data.size(0)):
            raise ValueError(
                f"{where}: index: expected values in [0, {data.size(0) - 1}], "
                f"got min {int(index.min())} max {int(index.max())}"
            )
        self.data = data
        self.index = index.long()

    @property
    def batch_size(self) -> int:
        return self.index.numel()

    def to(self, *args: Any, **kwargs: Any) -> "RawModality":
        """Move like :meth:`torch.Tensor.to` (``index`` keeps its dtype)."""
        out = RawModality.__new__(RawModality)
        out.data = self.data.to(*args, **kwargs)
        out.index = self.index.to(*[a for a in args if not isinstance(a, torch.dtype)],
                                  **{k: v for k, v in kwargs.items() if k != "dtype"})
        return out

    def __repr__(self) -> str:
        return f"RawModality(data={list(self.data.shape)}, index={list(self.index.shape)})"
