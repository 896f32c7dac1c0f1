"""A map-style dataset of :class:`~mmgraph.MultimodalSample`\\ s, from a list or computed on demand."""

from __future__ import annotations

from typing import Any, Callable, Hashable, Optional, Sequence, Union

import torch
from torch import Tensor
from torch.utils.data import Dataset

from mmgraph.data.batch import MultimodalBatch, collate
from mmgraph.data.raw import RawItem
from mmgraph.data.sample import MultimodalSample

__all__ = ["MultimodalDataset"]


class MultimodalDataset(Dataset):
    r"""A map-style dataset of :class:`~mmgraph.MultimodalSample`\ s (a :class:`torch.utils.data.Dataset`).

    Give it the samples (``MultimodalDataset(samples)``), or a function that makes sample ``i``
    on demand and the number of samples (``MultimodalDataset(get=make_sample, length=n)``),
    e.g. to read images from disk as they are needed, or, for data held in padded tensors, a
    function that makes the batch of given sample indices directly
    (``MultimodalDataset(batch=make_batch, length=n)``), which skips per-sample objects.

    ``groups`` holds one key per sample: samples with the same key go into the same batch
    (:class:`~mmgraph.data.GroupedBatchSampler`), e.g. all the questions about one image, so that
    the image is encoded once per batch. By default the samples of a list are grouped by the
    ``key`` of their raw items (:class:`~mmgraph.data.RawItem`) when every raw item has one.

    Subclasses holding padded tensors can override :meth:`batch` to make a batch directly
    without per-sample objects; :class:`~mmgraph.data.MultimodalLoader` (through PyTorch's
    ``__getitems__``) then calls it once per batch.

    Args:
        samples: The samples.
        get: Instead of ``samples``: ``get(i)`` returns sample ``i``.
        batch: Instead of ``samples``: ``batch(indices)`` returns those samples as a
            :class:`~mmgraph.MultimodalBatch` (sample ``i`` is then ``batch([i])`` split back, with
            its raw items keyed by its group).
        length: With ``get`` or ``batch``: the number of samples.
        groups: Optional group key per sample.

    Example:
        >>> import torch, mmgraph as mg
        >>> data = mg.data.MultimodalDataset([mg.MultimodalSample(text=torch.randn(3, 8), y=i % 2) for i in range(6)])
        >>> len(data), data.batch([0, 1]).batch_size
        (6, 2)
    """

    def __init__(
        self,
        samples: Optional[Sequence[MultimodalSample]] = None,
        *,
        get: Optional[Callable[[int], MultimodalSample]] = None,
        length: Optional[int] = None,
        groups: Optional[Sequence[Hashable]] = None,
        batch: Optional[Callable[[Sequence[int]], MultimodalBatch]] = None,
    ) -> None:
        given = [k for k, v in (("samples", samples), ("get", get), ("batch", batch)) if v is not None]
        if len(given) != 1:
            raise ValueError("MultimodalDataset: expected exactly one of samples, get=function or batch=function "
                             f"(with length=), got {given or 'none'}")
        self._batch_fn = batch
        if batch is not None:
            if not callable(batch):
                raise ValueError(f"MultimodalDataset: batch: expected a function indices -> MultimodalBatch, got "
                                 f"{type(batch).__name__}")
            get = self._from_batch
        if samples is not None:
            samples = list(samples)
            for i, s in enumerate(samples):
                if not isinstance(s, MultimodalSample):
                    raise ValueError(f"MultimodalDataset: sample {i}: expected a MultimodalSample, got {type(s).__name__}")
            if length is not None:
                raise ValueError("MultimodalDataset: length applies to get=function only (a list has its own length)")
            length = len(samples)
        elif not callable(get):
            raise ValueError(f"MultimodalDataset: get: expected a function index -> MultimodalSample, got "
                             f"{type(get).__name__}")
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"MultimodalDataset: length: expected the number of samples (an int >= 1), got {length!r}")
        self._samples, self._get, self._length = samples, get, length
        if groups is not None:
            groups = list(groups)
            if len(groups) != length:
                raise ValueError(f"MultimodalDataset: groups: expected one key per sample ({length}), got {len(groups)}")
        self._groups = groups

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> MultimodalSample:
        index = self._check(index)
        if self._samples is not None:
            return self._samples[index]
        sample = self._get(index)  # type: ignore[misc]
        if not isinstance(sample, MultimodalSample):
            raise ValueError(f"MultimodalDataset: get({index}) returned {type(sample).__name__}, expected a "
                             "MultimodalSample")
        return sample

    def _check(self, index: Any) -> int:
        if isinstance(index, Tensor) and index.numel() == 1 and not index.is_floating_point():
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, int) or not -self._length <= index < self._length:
            raise IndexError(f"MultimodalDataset: expected a sample index in [0, {self._length}), got {index!r}")
        return index % self._length

    @property
    def groups(self) -> Optional[list[Hashable]]:
        """The group key of every sample (``None``: every sample is its own group)."""
        if self._groups is not None or self._samples is None:
            return self._groups
        names = sorted({n for s in self._samples for n in s.raw})
        if not names:
            return None
        keys = [s.raw[names[0]].key if names[0] in s.raw else None for s in self._samples]
        return None if any(k is None for k in keys) else keys

    def batch(self, indices: Union[Sequence[int], Tensor]) -> MultimodalBatch:
        """The samples ``indices`` as one :class:`~mmgraph.MultimodalBatch` (:func:`~mmgraph.collate`)."""
        if self._batch_fn is not None:
            return self._batch_fn([self._check(int(i)) for i in indices])
        return collate([self[int(i)] for i in indices])

    def _from_batch(self, index: int) -> MultimodalSample:
        """Sample ``index`` split out of a one-sample batch; its raw items are keyed by its group."""
        one = self._batch_fn([index])  # type: ignore[misc]
        key = None if self._groups is None else self._groups[index]
        items: dict[str, Any] = {}
        if one.modalities:
            elements = one.without(*one.raw) if one.raw else one
            sample = elements.unbatch()[0]
            items.update({n: sample[n] for n in sample})
        items.update({n: RawItem(r.data[r.index[0]], key=key) for n, r in one.raw.items()})
        return MultimodalSample(items, y=None if one.y is None else one.y[0])

    def __getitems__(self, indices: Sequence[int]) -> MultimodalBatch:
        # PyTorch's DataLoader fetches a whole batch through this when it exists
        return self.batch(indices)

    def subset(self, indices: Union[Sequence[int], Tensor]) -> "MultimodalDataset":
        """The samples ``indices`` (with their group keys), as a new dataset that reads from this one."""
        idx = [self._check(int(i)) for i in indices]
        if not idx:
            raise ValueError("MultimodalDataset.subset: expected at least one index, got none")
        groups = self.groups
        sub = None if groups is None else [groups[i] for i in idx]
        if self._batch_fn is not None:  # keep the fast path
            return MultimodalDataset(batch=lambda ii: self.batch([idx[i] for i in ii]), length=len(idx), groups=sub)
        return MultimodalDataset(get=lambda i: self[idx[i]], length=len(idx), groups=sub)

    def split(self, fractions: Sequence[float], seed: int = 0) -> list["MultimodalDataset"]:
        """Random disjoint parts of the given ``fractions`` (e.g. ``(0.8, 0.1, 0.1)``), whole groups at a time.

        Samples that share a group key (all questions of an image) land in the same part, so no
        image is seen in training and tested on. Deterministic under ``seed``.
        """
        fractions = [float(f) for f in fractions]
        if not fractions or any(f <= 0 for f in fractions) or sum(fractions) > 1 + 1e-9:
            raise ValueError(f"split: expected positive fractions summing to at most 1, got {fractions}")
        groups = self.groups or list(range(self._length))
        members: dict[Hashable, list[int]] = {}
        for i, g in enumerate(groups):
            members.setdefault(g, []).append(i)
        keys = list(members)
        order = torch.randperm(len(keys), generator=torch.Generator().manual_seed(seed)).tolist()
        bounds = [round(sum(fractions[: k + 1]) * len(keys)) for k in range(len(fractions))]
        parts, start = [], 0
        for k, end in enumerate(bounds):
            chosen = [i for j in order[start:end] for i in members[keys[j]]]
            if not chosen:
                raise ValueError(f"split: part {k} ({fractions[k]:g} of {len(keys)} groups) would be empty")
            parts.append(self.subset(sorted(chosen)))
            start = end
        return parts

    def __repr__(self) -> str:
        kind = "samples" if self._samples is not None else "batch" if self._batch_fn is not None else "get"
        groups = self.groups
        extra = "" if groups is None else f", groups={len(set(groups))}"
        return f"{self.__class__.__name__}({self._length} {kind}{extra})"
