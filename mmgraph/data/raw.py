"""Raw (not yet element-wise) modality input, shared by several samples of a batch."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mmgraph.utils.checks import check_dense, check_features

__all__ = ["RawModality", "RawItem"]


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


class RawItem:
    r"""The raw input of one modality for one sample (an image, a clip), before any extractor.

    Give it to a :class:`~mmgraph.MultimodalSample` like a modality
    (``MultimodalSample(question=..., image=RawItem(pixels, key=image_id))``);
    :func:`~mmgraph.collate` stores each distinct item of a batch once in a :class:`RawModality`,
    so an extractor such as :class:`~mmgraph.nn.GridCNN` encodes an image once however many of its
    questions the batch holds. Items are the same when they have the same ``key``, or, without
    keys, when they are views of the same memory.

    Args:
        data: The item, e.g. an image :math:`(3, H, W)` (``uint8`` or float); any tensor or array.
        key: Optional hashable identity (e.g. the image id) shared by every sample of the item;
            it also groups those samples into the same batch (:class:`~mmgraph.data.GroupedBatchSampler`).
    """

    __slots__ = ("data", "key")

    def __init__(self, data: Any, key: Any = None) -> None:
        if not isinstance(data, Tensor):
            try:
                data = torch.as_tensor(data)
            except Exception as exc:  # noqa: BLE001 - re-raised with context
                raise ValueError(f"raw item: data: expected a tensor or array, got {type(data).__name__}") from exc
        check_dense(data, "raw item: data")
        if data.dim() < 1 or data.numel() == 0:
            raise ValueError(f"raw item: data: expected a non-empty tensor (e.g. an image (3, H, W)), got shape "
                             f"{tuple(data.shape)}")
        if data.dtype == torch.bool or data.is_complex():
            raise ValueError(f"raw item: data: expected real numbers (e.g. uint8 or float pixels), got dtype {data.dtype}")
        check_features(data, "raw item: data")
        if key is not None:
            try:
                hash(key)
            except TypeError:
                raise ValueError(f"raw item: key: expected a hashable value (e.g. an int or str), got "
                                 f"{type(key).__name__}") from None
        self.data = data
        self.key = key

    def identity(self) -> Any:
        """What makes two items the same within a batch: the key, else the memory they view."""
        if self.key is not None:
            return ("key", self.key)
        d = self.data
        return ("view", d.data_ptr(), tuple(d.shape), d.stride(), d.dtype)

    def to(self, *args: Any, **kwargs: Any) -> "RawItem":
        return RawItem(self.data.to(*args, **kwargs), key=self.key)

    def __repr__(self) -> str:
        key = "" if self.key is None else f", key={self.key!r}"
        return f"RawItem(data={list(self.data.shape)}{key})"
