"""One training run as an object: :class:`Trainer` (steps, serialisable state), and the resume files."""

from __future__ import annotations

import logging
import math
import random
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from mmgraph.train.checkpoint import save_checkpoint
from mmgraph.train.defaults import LossFn, MetricsFn, _auxiliary_loss
from mmgraph.train.distributed import Distributed, ShardedBatches, gather_predictions, shard_index
from mmgraph.train.evaluation import _as_metric_dict, _check_batch_type, _check_targets, _evaluate, _predict, _targets
from mmgraph.utils.io import atomic_write
from mmgraph.utils.progress import interactive, progress_line

__all__ = ["Trainer", "FitResult", "RESUME_FILE"]


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        best_epoch: The epoch (1-based) with the best monitored validation metric; the
            model holds that epoch's weights after :func:`fit`.
        best_val: All validation metrics at ``best_epoch``.
        test: Test metrics of the best-validation weights (``None`` without a test set).
        history: One dict per epoch run: ``epoch``, ``train_loss``, ``val_<metric>`` for
            every validation metric, ``lr`` (learning rate of the epoch's first step),
            ``train_seconds`` (training part) and ``seconds`` (whole epoch, with validation
            and checkpointing), plus the ``history_tags`` of the call that ran the epoch.
        train_s_per_epoch: Mean wall-clock seconds of the training part of an epoch.
        epochs_run: Number of epochs run (less than ``epochs`` after early stopping).
        monitor: The monitored validation metric.
        mode: ``"max"`` or ``"min"``.
        stopped_early: Whether early stopping ended the run.
    """

    best_epoch: int
    best_val: dict[str, float]
    test: Optional[dict[str, float]]
    history: list[dict[str, Any]]
    train_s_per_epoch: float
    epochs_run: int
    monitor: str = ""
    mode: str = ""
    stopped_early: bool = False


def _lr_factor(warmup_steps: int, total_steps: int, cosine: bool) -> Callable[[int], float]:
    """Multiplier of the base learning rate for the optimizer step number ``step`` (0-based)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if not cosine:
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _better(value: float, best: Optional[float], mode: str) -> bool:
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value > best if mode == "max" else value < best


def _emit(log: Any, record: dict[str, Any]) -> None:
    if log is None:
        return
    if isinstance(log, logging.Logger):
        parts = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items() if k != "epoch"]
        log.info("epoch %s: %s", record.get("epoch"), " ".join(parts))
    else:
        log(dict(record))


#: File in ``checkpoint_dir`` holding everything :func:`fit` needs to continue a run (``resume=True``).
RESUME_FILE = "resume.pt"


def _generators(train: Any) -> list[torch.Generator]:
    """The generators ``train``'s batches draw from: ``train.generators`` if it says, else ``[train.generator]``."""
    found = getattr(train, "generators", None)
    if found is None:
        found = [getattr(train, "generator", None)]
    return [g for g in found if isinstance(g, torch.Generator)]


def _get_random_state(train: Any) -> dict[str, Any]:
    """Python's, NumPy's and torch's random states, and those of the generators of ``train`` (:func:`_generators`)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    generators = _generators(train)
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(gauss)],
        "torch": torch.get_rng_state(),
        "train": generators[0].get_state() if generators else None,
        "train_more": [g.get_state() for g in generators[1:]],  # e.g. a loader's modality-dropout draws
    }


def _set_random_state(state: dict[str, Any], train: Any) -> None:
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    generators = _generators(train)
    if state["train"] is not None and generators:
        generators[0].set_state(state["train"])
    more = state.get("train_more", [])
    if len(more) == len(generators) - 1:
        for g, saved in zip(generators[1:], more):
            g.set_state(saved)


#: Entries of the resume state kept in files of their own (``resume.<epoch>.<key>.pt``), so that
#: no one file holds model, optimizer and best weights together (a long run's state can then be
#: committed in parts of a few MB each).
_RESUME_PARTS = ("model", "optimizer", "best_state")


def _save_resume_state(path: Path, state: dict[str, Any]) -> None:
    """Write the parts for this epoch, then ``resume.pt`` naming them (atomically), then drop older parts.

    An interruption at any point leaves a ``resume.pt`` whose parts all exist.
    """
    epoch = len(state.get("history", []))
    main = {k: v for k, v in state.items() if k not in _RESUME_PARTS}
    main["parts"] = {}
    for key in _RESUME_PARTS:
        name = f"{path.stem}.{epoch}.{key}.pt"
        atomic_write(path.parent / name, lambda tmp, value=state[key]: torch.save(value, tmp))
        main["parts"][key] = name
    atomic_write(path, lambda tmp: torch.save(main, tmp))
    keep = set(main["parts"].values())
    for old in path.parent.glob(f"{path.stem}.*.pt"):
        if old.name not in keep:
            old.unlink(missing_ok=True)


def _read_resume_file(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch's reader raises RuntimeError, UnpicklingError, EOFError ...
        raise ValueError(f"resume: cannot read {str(path)!r} ({type(exc).__name__}: {str(exc).splitlines()[0][:100]}); "
                         "delete the checkpoint folder's resume files to start the run over") from None


def _load_resume_state(path: Path) -> dict[str, Any]:
    state = _read_resume_file(path)
    if not isinstance(state, dict):
        raise ValueError(f"resume: {str(path)!r} holds a {type(state).__name__}, not a resume state")
    parts = state.pop("parts", None) or {}
    for key, name in parts.items():
        pattern = rf"{re.escape(path.stem)}\.\d+\.{re.escape(str(key))}\.pt"
        if key not in _RESUME_PARTS or not isinstance(name, str) or not re.fullmatch(pattern, name):
            raise ValueError(f"resume: {str(path)!r} names a part {key!r} = {name!r}; expected a file "
                             f"{path.stem}.<epoch>.<part>.pt next to it, with part one of {list(_RESUME_PARTS)}")
        state[key] = _read_resume_file(path.parent / name)
    return state


class Trainer:
    r"""One training run: AdamW with a warm-up and cosine schedule, the best epoch's weights kept,
    early stopping, checkpoints and a resume state.

    :func:`~mmgraph.train.fit` is the one-call front door: it checks the arguments, fills in the
    task's defaults, makes a Trainer and calls :meth:`run`. A Trainer exposes the steps of that
    run, :meth:`train_epoch`, :meth:`evaluate` and :meth:`checkpoint`, and its whole progress as
    a serialisable :meth:`state_dict` (what ``resume.pt`` holds, besides the random states).

    Args:
        model: The model, already on ``device``.
        loss: ``loss(out, y) -> scalar tensor``.
        metrics: ``metrics(preds, targets) -> dict`` for validation and test.
        monitor, mode: The validation metric that picks the best epoch, and ``"max"``/``"min"``.
        epochs, lr, weight_decay, scheduler, warmup_epochs, patience, grad_clip, seed: As in
            :func:`~mmgraph.train.fit` (already checked).
        steps_per_epoch: Batches per epoch (the schedule's length).
        checkpoint_dir: Where checkpoints and the resume state go (``None``: nowhere).
        check_task: The model's task whose default loss the first epoch's targets are checked
            against (``None``: no check).
        progress, log, history_tags: As in :func:`~mmgraph.train.fit`.
        distributed: The process group (:func:`~mmgraph.train.distributed.from_environment`);
            ``None`` for one process. With it the model is trained through
            :class:`~torch.nn.parallel.DistributedDataParallel` on this process's shard of each
            batch, metrics are computed over every process's predictions, and only rank 0 writes
            files and progress.
    """

    def __init__(self, model: nn.Module, *, loss: LossFn, metrics: MetricsFn, monitor: str, mode: str, epochs: int,
                 lr: float, weight_decay: float, scheduler: str, warmup_epochs: int, patience: Optional[int],
                 grad_clip: Optional[float], seed: int, steps_per_epoch: int,
                 checkpoint_dir: Optional[Path] = None, check_task: Optional[str] = None, progress: bool = False,
                 log: Any = None, history_tags: Optional[dict[str, Any]] = None,
                 distributed: Optional[Distributed] = None) -> None:
        self.model, self.loss, self.metrics = model, loss, metrics
        self.dist = distributed
        self.main = distributed is None or distributed.is_main
        self.monitor, self.mode, self.epochs, self.seed = monitor, mode, epochs, seed
        self.patience, self.grad_clip, self.steps_per_epoch = patience, grad_clip, steps_per_epoch
        self.checkpoint_dir, self.check_task = checkpoint_dir, check_task
        self.progress, self.log, self.tags = progress and self.main, log if self.main else None, dict(history_tags or {})
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("model: has no trainable parameters")
        # foreach: one fused update over all parameters instead of a Python loop (same maths, ~5x faster on CPU).
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=weight_decay, foreach=True)
        self.scheduler = None
        if scheduler == "cosine" or warmup_epochs > 0:
            factor = _lr_factor(warmup_epochs * steps_per_epoch, epochs * steps_per_epoch, scheduler == "cosine")
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.settings = {"epochs": epochs, "lr": lr, "weight_decay": weight_decay, "scheduler": scheduler,
                         "warmup_epochs": warmup_epochs, "patience": patience, "grad_clip": grad_clip, "seed": seed,
                         "monitor": monitor, "mode": mode, "steps_per_epoch": steps_per_epoch,
                         "world_size": 1 if distributed is None else distributed.world_size}
        self.forward: nn.Module = model
        if distributed is not None:
            ids = [distributed.device.index] if distributed.device.type == "cuda" else None
            self.forward = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.history: list[dict[str, Any]] = []
        self.train_seconds: list[float] = []
        self.best_value: Optional[float] = None
        self.best_epoch = 0
        self.best_val: dict[str, float] = {}
        self.best_state: Optional[dict[str, Tensor]] = None
        self.since_best = 0
        self.stopped_early = False

    # ------------------------------------------------------------------ state

    _PROGRESS = ("history", "train_seconds", "best_value", "best_epoch", "best_val", "best_state", "since_best",
                 "stopped_early")

    def state_dict(self) -> dict[str, Any]:
        """Everything the run needs to continue: settings, model, optimizer, schedule and progress."""
        state = {"settings": dict(self.settings), "model": self.model.state_dict(),
                 "optimizer": self.optimizer.state_dict(),
                 "scheduler": None if self.scheduler is None else self.scheduler.state_dict()}
        state.update({key: getattr(self, key) for key in self._PROGRESS})
        return state

    def load_state_dict(self, state: dict[str, Any], where: str = "state") -> None:
        """Continue from :meth:`state_dict`; refuses a state saved with other settings (naming them)."""
        saved = {"world_size": 1, **state.get("settings", {})}  # states saved before there were several processes
        differ = {k: (saved.get(k), v) for k, v in self.settings.items() if saved.get(k) != v}
        if differ:
            listed = "; ".join(f"{k}: saved {a!r}, got {b!r}" for k, (a, b) in sorted(differ.items()))
            hint = (f" (run {saved['world_size']} processes, e.g. torchrun --nproc-per-node={saved['world_size']})"
                    if "world_size" in differ else "")
            raise ValueError(f"resume: {where} was saved by a run with other settings ({listed}); "
                             f"use the same settings{hint} or another checkpoint_dir")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        for key in self._PROGRESS:
            setattr(self, key, state[key])
        self.history, self.train_seconds, self.best_val = list(self.history), list(self.train_seconds), \
            dict(self.best_val)

    @property
    def next_epoch(self) -> int:
        """The epoch :meth:`run` starts with (``epochs + 1`` once the run has ended)."""
        return self.epochs + 1 if self.stopped_early else len(self.history) + 1

    # ------------------------------------------------------------------ steps

    def _check(self, what: str) -> Optional[Callable[[Tensor, Tensor, int], None]]:
        task = self.check_task
        return None if task is None else (lambda out, y, index: _check_targets(out, y, task, what, index))

    def train_epoch(self, train: Iterable[Any], epoch: int, first: bool = False, bars: bool = False) -> float:
        """One pass over ``train``: the mean training loss per sample. ``first`` checks every batch's data."""
        model, device = self.model, next(iter(self.params)).device
        model.train()
        check = self._check("train") if first else None
        total, count = 0.0, 0
        batch_bar = tqdm(train, total=self.steps_per_epoch, desc=f"epoch {epoch}", unit="batch", leave=False,
                         disable=not bars, dynamic_ncols=True)
        try:
            for i, batch in enumerate(batch_bar):
                if first:
                    _check_batch_type(batch, "train", i)
                y = _targets(batch, "train", i)  # on the CPU, before it is moved
                batch, y, share = self._shard(batch, y)
                batch = batch.to(device)
                out = self.forward(batch)
                if check is not None and isinstance(out, Tensor):
                    check(out, y, i)
                step_loss = self._step(self.loss(out, batch.y), epoch, i, share)
                total += step_loss * int(y.size(0)) * (share > 0)
                count += int(y.size(0)) * (share > 0)
        finally:
            batch_bar.close()
        total, count = self._sum_over_processes(total, count)
        if count == 0:
            raise ValueError(f"train: yielded no batches in epoch {epoch}; expected at least one")
        return total / count

    def _shard(self, batch: Any, y: Tensor) -> tuple[Any, Tensor, float]:
        """This process's part of ``batch``, its targets and its share of the batch's loss (1 for one process).

        A process without samples in the batch runs its first sample with share 0, so that every
        process takes part in the step's gradient reduction.
        """
        if self.dist is None:
            return batch, y, 1.0
        n = batch.batch_size
        index = shard_index(batch, self.dist.rank, self.dist.world_size)
        share = index.numel() * self.dist.world_size / n
        if not index.numel():
            index = torch.zeros(1, dtype=torch.long)
        return batch.select(index), y[index], share

    def _sum_over_processes(self, total: float, count: int) -> tuple[float, int]:
        if self.dist is None:
            return total, count
        both = torch.tensor([total, float(count)], dtype=torch.float64, device=self.dist.device)  # nccl: on the GPU
        torch.distributed.all_reduce(both)
        return float(both[0]), int(both[1])

    def _step(self, value: Any, epoch: int, index: int, share: float = 1.0) -> float:
        """One optimizer step on the loss ``value`` weighted by ``share``; its float (the one host sync of a step)."""
        if not isinstance(value, Tensor) or value.numel() != 1:
            raise ValueError(f"loss: expected a scalar tensor, got {type(value).__name__} "
                             f"{tuple(value.shape) if isinstance(value, Tensor) else ''}")
        value = value + _auxiliary_loss(self.model)
        step_loss = float(value.detach())
        finite = math.isfinite(step_loss)
        if self.dist is not None:  # every process stops together (one alone would leave the others waiting)
            flag = torch.tensor([0.0 if finite else 1.0], device=self.dist.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            finite = bool(flag.item() == 0.0)
        if not finite:
            raise ValueError(f"train: the loss is {step_loss} at epoch {epoch}, batch {index}"
                             f"{'' if self.dist is None else ' (on some process)'}; the weights are left as before "
                             "this batch (check the inputs' scale, or lower lr)")
        self.optimizer.zero_grad(set_to_none=True)
        if self.dist is not None:
            # every parameter takes part in every reduction, also one a shard leaves unused (a missing modality)
            value = value * share + torch.stack([p.reshape(-1)[0] for p in self.params]).sum() * 0.0
        value.backward()
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return step_loss

    def evaluate(self, data: Iterable[Any], what: str = "val", check: bool = False) -> dict[str, float]:
        """The metrics on ``data`` (eval mode, no gradients); ``check`` checks the targets first.

        With several processes each predicts its shards and the metrics are computed over all
        of them, in the order of one process.
        """
        checker = self._check(what) if check else None
        if self.dist is None:
            return _evaluate(self.model, data, self.metrics, what, checker)
        view = ShardedBatches(data, self.dist)
        preds: Optional[Tensor] = None
        targets: Optional[Tensor] = None
        try:
            preds, targets = _predict(self.model, view, what, checker)
        except ValueError:
            if view.where:  # a real error; an empty shard is not one
                raise
        preds, targets = gather_predictions(preds, targets, view.where)
        if targets is None:
            raise ValueError(f"{what}: batch 0 has no targets (y is None); evaluation needs y")
        return _as_metric_dict(self.metrics(preds, targets), what)

    def _update_best(self, epoch: int, val_metrics: dict[str, float]) -> bool:
        """Record the epoch's validation metrics; whether they are the best so far."""
        if self.monitor not in val_metrics:
            raise ValueError(f"monitor: {self.monitor!r} is not a validation metric; available: {sorted(val_metrics)}")
        improved = _better(val_metrics[self.monitor], self.best_value, self.mode)
        if improved:
            self.best_value, self.best_epoch, self.best_val = val_metrics[self.monitor], epoch, dict(val_metrics)
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.since_best = 0
        else:
            self.since_best += 1
        if self.patience is not None and self.since_best >= self.patience and epoch < self.epochs:
            self.stopped_early = True
        return improved

    def checkpoint(self, meta: dict[str, Any], improved: bool) -> None:
        """``best.safetensors`` (if ``improved``) and ``last.safetensors`` with the optimizer state (rank 0 only).

        Written with :func:`~mmgraph.train.save_checkpoint`; the optimizer state goes to
        ``last.optim.<generation>.pt``, named and hashed in ``last.safetensors``. ``meta`` (the
        epoch, ``train_loss``, ``val``, ``monitor``, ``mode``, ``seed``) is the files' metadata.
        :meth:`run` also writes the whole training state to ``resume.pt`` after every epoch.
        """
        if self.checkpoint_dir is None or not self.main:
            return
        if improved:
            save_checkpoint(self.checkpoint_dir / "best.safetensors", self.model, meta)
        save_checkpoint(self.checkpoint_dir / "last.safetensors", self.model, meta, optimizer=self.optimizer)

    def save_resume_state(self, train: Any) -> None:
        """:meth:`state_dict` and the random states (with ``train``'s generators) to ``resume.pt``.

        With several processes, rank 0 writes it with every process's random states.
        """
        if self.checkpoint_dir is None:
            return
        random_state: Any = _get_random_state(train)
        if self.dist is not None:
            states: list[Any] = [None] * self.dist.world_size
            torch.distributed.all_gather_object(states, random_state)
            random_state = {"ranks": states}
        if self.main:
            _save_resume_state(self.checkpoint_dir / RESUME_FILE, {**self.state_dict(), "random": random_state})
        if self.dist is not None:
            torch.distributed.barrier()  # every process sees the file before the next epoch

    def resume(self, train: Any) -> bool:
        """Continue from ``checkpoint_dir/resume.pt`` if there is one; whether there was.

        It restores the weights, optimizer, learning-rate schedule, history and best epoch so far,
        and the random states of Python, NumPy and torch and of ``train``'s generators
        (``train.generator``, e.g. a DataLoader's or the bench's batches). When all of training's
        randomness lives in those, the resumed run ends exactly as an uninterrupted one would on
        CPU. The settings that shape the run (``epochs``, ``lr``, ``weight_decay``, ``scheduler``,
        ``warmup_epochs``, ``patience``, ``grad_clip``, ``seed``, ``monitor``, ``mode``, batches
        per epoch, processes) must be those of the interrupted run. A run that had already ended
        is not trained further.
        """
        path = None if self.checkpoint_dir is None else self.checkpoint_dir / RESUME_FILE
        if path is None or not path.exists():
            return False
        state = _load_resume_state(path)
        self.load_state_dict(state, repr(str(path)))
        random_state = state["random"]
        if "ranks" in random_state:  # saved by several processes (load_state_dict checked their number)
            random_state = random_state["ranks"][0 if self.dist is None else self.dist.rank]
        _set_random_state(random_state, train)
        return True

    # ------------------------------------------------------------------ the run

    def run_epoch(self, train: Iterable[Any], val: Iterable[Any], epoch: int, first: bool, bars: bool) -> dict[str, Any]:
        """Train one epoch, validate, keep the best weights, checkpoint; the epoch's history record."""
        t0 = time.perf_counter()
        epoch_lr = float(self.optimizer.param_groups[0]["lr"])
        train_loss = self.train_epoch(train, epoch, first, bars)
        train_s = time.perf_counter() - t0
        self.train_seconds.append(train_s)
        val_metrics = self.evaluate(val, "val", check=first)
        improved = self._update_best(epoch, val_metrics)
        self.checkpoint({"epoch": epoch, "train_loss": train_loss, "val": val_metrics, "monitor": self.monitor,
                         "mode": self.mode, "seed": self.seed, "model": type(self.model).__name__}, improved)
        record: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss}
        record.update({f"val_{k}": v for k, v in val_metrics.items()})
        record.update({"lr": epoch_lr, "train_seconds": train_s, "seconds": time.perf_counter() - t0})
        record.update(self.tags)
        self.history.append(record)
        return record

    def run(self, train: Iterable[Any], val: Iterable[Any], test: Optional[Iterable[Any]] = None) -> FitResult:
        """Every remaining epoch, then the best epoch's weights, tested: a :class:`FitResult`."""
        bars = self.progress and interactive()  # in a log file or CI: one line per epoch instead of redrawn bars
        first_epoch = self.next_epoch
        epoch_bar = tqdm(range(first_epoch, self.epochs + 1), desc="fit", unit="epoch", disable=not bars,
                         dynamic_ncols=True, initial=first_epoch - 1, total=self.epochs)
        try:
            for epoch in epoch_bar:
                record = self.run_epoch(train, val, epoch, epoch == first_epoch, bars)
                current = record[f"val_{self.monitor}"]
                epoch_bar.set_postfix({"train_loss": f"{record['train_loss']:.4f}", f"val_{self.monitor}": f"{current:.4f}"})
                if self.progress and not bars:
                    progress_line(f"fit: epoch {epoch}/{self.epochs}: train_loss {record['train_loss']:.4f}, "
                                  f"val_{self.monitor} {current:.4f}, {record['seconds']:.1f}s")
                self.save_resume_state(train)
                _emit(self.log, record)
                if self.stopped_early:
                    break
        finally:
            epoch_bar.close()
        return self.result(test)

    def result(self, test: Optional[Iterable[Any]] = None) -> FitResult:
        """Load the best epoch's weights (eval mode) and test them."""
        best_epoch, best_val = self.best_epoch, self.best_val
        if self.best_state is None:  # the monitored metric was NaN in every epoch
            warnings.warn(f"validation {self.monitor!r} was NaN in every epoch; keeping the last epoch's weights",
                          RuntimeWarning, stacklevel=4)
            best_epoch = len(self.history)
            best_val = {k[len("val_"):]: v for k, v in self.history[-1].items() if k.startswith("val_")}
        else:
            self.model.load_state_dict(self.best_state)
        self.model.eval()
        test_metrics = None if test is None else self.evaluate(test, "test", check=True)
        return FitResult(best_epoch=best_epoch, best_val=best_val, test=test_metrics, history=self.history,
                         train_s_per_epoch=sum(self.train_seconds) / len(self.train_seconds),
                         epochs_run=len(self.history), monitor=self.monitor, mode=self.mode,
                         stopped_early=self.stopped_early)
