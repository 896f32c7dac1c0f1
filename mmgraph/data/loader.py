"""Batches of a dataset: :class:`GroupedBatchSampler` and :class:`MultimodalLoader`."""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterator, Optional, Sequence

import torch
from torch.utils.data import DataLoader, Sampler

from mmgraph.data.batch import MultimodalBatch, collate

__all__ = ["GroupedBatchSampler", "MultimodalLoader"]


class GroupedBatchSampler(Sampler[list[int]]):
    r"""Batches of sample indices that keep each group (e.g. the questions of one image) together.

    The groups are ordered by first appearance; every epoch they are shuffled (with this
    sampler's own :attr:`generator`, so runs are reproducible and resumable) and each batch takes
    ``max(1, batch_size // mean group size)`` consecutive whole groups. Without groups every
    sample is its own group, which makes this a plain (shuffled) batch sampler.

    Args:
        num_samples: Number of samples.
        batch_size: Target samples per batch.
        groups: Optional group key per sample.
        shuffle: Shuffle the groups every epoch.
        seed: Seed of the shuffling generator.
    """

    def __init__(self, num_samples: int, batch_size: int, groups: Optional[Sequence[Hashable]] = None,
                 shuffle: bool = False, seed: int = 0) -> None:
        for what, value in (("num_samples", num_samples), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GroupedBatchSampler: {what}: expected an int >= 1, got {value!r}")
        if groups is None:
            self.members: Optional[list[list[int]]] = None
            self.num_groups, per_group = num_samples, 1.0
        else:
            if len(groups) != num_samples:
                raise ValueError(f"GroupedBatchSampler: groups: expected one key per sample ({num_samples}), "
                                 f"got {len(groups)}")
            slots: dict[Hashable, list[int]] = {}
            for i, g in enumerate(groups):
                slots.setdefault(g, []).append(i)
            self.members = list(slots.values())
            self.num_groups, per_group = len(self.members), num_samples / len(self.members)
        self.groups_per_batch = max(1, int(batch_size // per_group))
        self.shuffle = bool(shuffle)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return (self.num_groups + self.groups_per_batch - 1) // self.groups_per_batch

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            order = torch.randperm(self.num_groups, generator=self.generator)
        else:
            order = torch.arange(self.num_groups)
        for chunk in order.split(self.groups_per_batch):
            if self.members is None:
                yield chunk.tolist()
            else:
                yield [i for g in chunk.tolist() for i in self.members[g]]


class _Collate:
    """A DataLoader ``collate_fn``: samples → batch (or a batch the dataset made), then ``then(batch)``."""

    def __init__(self, then: Optional[Callable[[MultimodalBatch], MultimodalBatch]]) -> None:
        self.then = then

    def __call__(self, data: Any) -> MultimodalBatch:
        batch = data if isinstance(data, MultimodalBatch) else collate(data)
        return batch if self.then is None else self.then(batch)


class MultimodalLoader:
    r"""Re-iterable batches of a dataset of :class:`~mmgraph.MultimodalSample`\ s, for :func:`~mmgraph.train.fit`.

    A :class:`torch.utils.data.DataLoader` with a :class:`GroupedBatchSampler` (samples that share
    a group key, such as the questions of one image, are batched together, so the image is encoded
    once) and :func:`~mmgraph.collate`. Graph models can build their graphs here, in the loader's
    workers, rather than in their forward pass: pass ``collate=model.collate_fn()``.

    Args:
        dataset: A map-style dataset of samples (e.g. :class:`~mmgraph.data.MultimodalDataset`);
            its ``groups`` attribute, when present, groups the batches.
        batch_size: Target samples per batch.
        shuffle: Shuffle every epoch (reproducibly under ``seed``).
        seed: Seed of the shuffling.
        collate: Optional step applied to each batch, e.g. a :class:`~mmgraph.GraphCollate`'s
            ``attach`` or ``model.collate_fn()``.
        group: Keep groups together (default); ``False`` batches samples independently.
        num_workers: DataLoader worker processes (``0``: load in the main process).

    Example:
        >>> import torch, mmgraph as mg
        >>> data = mg.data.MultimodalDataset([mg.MultimodalSample(text=torch.randn(3, 8), y=i % 2) for i in range(10)])
        >>> loader = mg.data.MultimodalLoader(data, batch_size=4, shuffle=True)
        >>> [b.batch_size for b in loader]
        [4, 4, 2]
    """

    def __init__(self, dataset: Any, batch_size: int = 64, shuffle: bool = False, seed: int = 0,
                 collate: Optional[Callable[[MultimodalBatch], MultimodalBatch]] = None, group: bool = True,
                 num_workers: int = 0) -> None:
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise ValueError(f"MultimodalLoader: dataset: expected a map-style dataset of MultimodalSample (with "
                             f"__len__ and __getitem__), got {type(dataset).__name__}")
        if collate is not None and not callable(collate):
            raise ValueError(f"MultimodalLoader: collate: expected a callable batch -> batch, got {type(collate).__name__}")
        then = getattr(collate, "attach", collate)  # a GraphCollate attaches graphs to a batch
        groups = getattr(dataset, "groups", None) if group else None
        self.dataset = dataset
        self.sampler = GroupedBatchSampler(len(dataset), batch_size, groups, shuffle, seed)
        self.loader = DataLoader(dataset, batch_sampler=self.sampler, collate_fn=_Collate(then),
                                 num_workers=num_workers)

    @property
    def generator(self) -> torch.Generator:
        """The shuffling generator (``fit`` saves its state to resume a run exactly)."""
        return self.sampler.generator

    @property
    def generators(self) -> list[torch.Generator]:
        """The shuffling generator, then the dataset's own ``generator`` (e.g. random augmentation), if any.

        :func:`~mmgraph.train.fit` saves and restores them all, so a resumed run draws what an
        uninterrupted one would.
        """
        own = getattr(self.dataset, "generator", None)
        return [self.sampler.generator] + ([own] if isinstance(own, torch.Generator) else [])

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[MultimodalBatch]:
        return iter(self.loader)

    def __repr__(self) -> str:
        return (f"MultimodalLoader({self.dataset!r}, batches={len(self)}, "
                f"groups_per_batch={self.sampler.groups_per_batch}, shuffle={self.sampler.shuffle})")
