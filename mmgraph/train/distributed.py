"""Training on several processes with ``torch.distributed``: the process group, batch shards and gathered predictions.

:func:`~mmgraph.train.fit` (and so ``mmgraph bench``) calls :func:`from_environment`: under
``torchrun`` (``WORLD_SIZE > 1``) it joins the process group (``gloo`` on CPU, ``nccl`` on CUDA)
and the :class:`~mmgraph.train.Trainer` then

- wraps the model in :class:`~torch.nn.parallel.DistributedDataParallel`;
- gives each process its shard of every batch (:func:`shard_index`). Every process iterates
  the same global batches (the same seed gives the same order), and the samples that share a
  raw item (the questions of one image) stay on one process;
- weights each shard's loss by its share of the batch, so the averaged gradient is the
  gradient of the whole batch's mean loss, as in one process;
- gathers the validation and test predictions of every process before computing metrics
  (:func:`gather_predictions`), so metrics are those of the whole split;
- writes checkpoints, the resume state and progress from rank 0 only.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, TypeVar, Union

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["Distributed", "from_environment", "shard_index", "ShardedBatches", "gather_predictions", "on_main"]

T = TypeVar("T")


@dataclass(frozen=True)
class Distributed:
    """The process group a run is part of.

    Attributes:
        rank: This process's rank in ``[0, world_size)``.
        world_size: Number of processes.
        device: The device this process trains on (``cuda:<LOCAL_RANK>`` with CUDA).
    """

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and progress (rank 0)."""
        return self.rank == 0


def from_environment(device: Union[str, torch.device] = "cpu") -> Optional[Distributed]:
    """The process group ``torchrun`` describes in the environment, joined if needed; ``None`` for one process.

    A group already initialised by the caller is used as it is. Otherwise, with ``WORLD_SIZE > 1``,
    it is initialised from the environment (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``), with
    ``nccl`` when ``device`` is CUDA and ``gloo`` otherwise. With CUDA each process takes the GPU
    ``LOCAL_RANK``.

    Raises:
        ValueError: for a ``WORLD_SIZE`` that is not a positive integer, or a torch without
            ``torch.distributed``.
    """
    device = torch.device(device)
    if not dist.is_available():
        if _world_from_env() > 1:
            raise ValueError("WORLD_SIZE > 1 but this torch has no torch.distributed; run one process")
        return None
    if not dist.is_initialized():
        if _world_from_env() <= 1:
            return None
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_leave)  # joined by mmgraph: left cleanly before the interpreter's teardown
    if dist.get_world_size() <= 1:
        return None
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return Distributed(dist.get_rank(), dist.get_world_size(), device)


def _leave() -> None:
    """Destroy the process group this process joined (threads of the backend left running abort the exit)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def _world_from_env() -> int:
    text = os.environ.get("WORLD_SIZE", "1")
    try:
        world = int(text)
    except ValueError:
        raise ValueError(f"WORLD_SIZE: expected a positive integer, got {text!r}") from None
    if world < 1:
        raise ValueError(f"WORLD_SIZE: expected a positive integer, got {world}")
    return world


def shard_index(batch: Any, rank: int, world_size: int) -> Tensor:
    """The samples of ``batch`` that process ``rank`` of ``world_size`` takes, in batch order.

    Samples are grouped by the item of the batch's first raw modality (all questions of one
    image form a group; without raw inputs every sample is a group of its own). Groups, in
    order of first appearance, are cut into ``world_size`` contiguous runs of about equal
    numbers of samples, so each group goes to one process. A process may get no sample
    (fewer groups than processes); the index is then empty.
    """
    n = batch.batch_size
    if batch.raw:
        key = next(iter(batch.raw.values())).index.cpu()
        _, first = torch.unique(key, return_inverse=True)
        order = torch.full((int(first.max()) + 1,), n, dtype=torch.long).scatter_reduce(
            0, first, torch.arange(n), reduce="amin")  # each group's first sample
        rank_of_group = torch.empty_like(order)
        sizes = torch.bincount(first, minlength=order.numel())
        by_appearance = torch.argsort(order)
        before = torch.cumsum(sizes[by_appearance], 0) - sizes[by_appearance]
        rank_of_group[by_appearance] = torch.clamp(before * world_size // n, max=world_size - 1)
        return torch.nonzero(rank_of_group[first] == rank).flatten()
    ranks = torch.clamp(torch.arange(n) * world_size // n, max=world_size - 1)
    return torch.nonzero(ranks == rank).flatten()


class ShardedBatches:
    """This process's part of every batch of ``data``, re-iterable; batches it has no sample of are skipped.

    After each pass, :attr:`where` lists ``(batch number, sample indices)`` of the parts it
    yielded, which :func:`gather_predictions` uses to put the predictions back in order.
    """

    def __init__(self, data: Any, ctx: Distributed) -> None:
        self.data, self.ctx = data, ctx
        self.where: list[tuple[int, Tensor]] = []

    def __iter__(self) -> Iterator[Any]:
        self.where = []
        for i, batch in enumerate(self.data):
            index = shard_index(batch, self.ctx.rank, self.ctx.world_size)
            if index.numel():
                self.where.append((i, index))
                yield batch.select(index)


def gather_predictions(preds: Optional[Tensor], targets: Optional[Tensor], where: list[tuple[int, Tensor]]
                       ) -> tuple[Tensor, Optional[Tensor]]:
    """Every process's predictions and targets, in the order of one process (CPU tensors, all ranks get them)."""
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, (preds, targets, where))
    parts = [(p, t, w) for p, t, w in parts if w]  # processes that predicted something
    keys = torch.cat([torch.cat([n * (1 << 32) + index for n, index in w]) for _, _, w in parts])
    order = torch.argsort(keys)  # (batch number, sample in batch): one process's order
    all_preds = torch.cat([p for p, _, _ in parts])[order]
    has_targets = parts[0][1] is not None
    all_targets = torch.cat([t for _, t, _ in parts])[order] if has_targets else None
    return all_preds, all_targets

def on_main(ctx: Optional[Distributed], fn: Callable[[], T]) -> T:
    """``fn()`` run by rank 0 alone, its result (or its exception) given to every process; ``fn()`` for one process.

    For decisions that read shared state (is this run finished?) and for writes: every process
    then acts on the same answer, and only one writes.
    """
    if ctx is None:
        return fn()
    box: list[Any] = [None]
    if ctx.is_main:
        try:
            box[0] = ("ok", fn())
        except Exception as exc:  # noqa: BLE001 - given to every process, raised there
            box[0] = ("error", exc)
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise value
    return value
