"""Training: :func:`fit`, the one-call front door to a :class:`~mmgraph.train.trainer.Trainer`.

:func:`predict` and :func:`evaluate` (:mod:`mmgraph.train.evaluation`), the task defaults
(:mod:`mmgraph.train.defaults`) and :class:`FitResult` are importable from here too.
"""

from __future__ import annotations

import logging
import math
import numbers
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Union

import torch
from torch import nn

from mmgraph.train.defaults import LossFn, MetricsFn, _task_of, default_loss, default_metrics, default_monitor
from mmgraph.train.evaluation import _check_iterable, _num_batches, evaluate, predict
from mmgraph.train.distributed import from_environment
from mmgraph.train.trainer import RESUME_FILE, FitResult, Trainer
from mmgraph.utils.checks import check_int
from mmgraph.utils.seed import seed_everything

__all__ = ["FitResult", "Trainer", "fit", "evaluate", "predict", "default_loss", "default_metrics", "SCHEDULERS",
           "RESUME_FILE"]

#: Accepted values of ``fit(scheduler=...)``.
SCHEDULERS = ("cosine", "none")

_RECORD_KEYS = ("epoch", "train_loss", "lr", "train_seconds", "seconds")


def _check_tags(tags: Any) -> dict[str, Union[str, int, float, bool]]:
    """``history_tags`` as a plain dict, or a ``ValueError`` naming what is wrong."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ValueError(f"history_tags: expected a dict of plain values, got {type(tags).__name__}")
    for key, value in tags.items():
        if not isinstance(key, str) or key in _RECORD_KEYS or key.startswith("val_"):
            raise ValueError(f"history_tags: key {key!r} is not allowed; expected a str other than "
                             f"{', '.join(_RECORD_KEYS)} and not starting with 'val_'")
        if not isinstance(value, (str, int, float, bool)):
            raise ValueError(f"history_tags[{key!r}]: expected a str, int, float or bool, got {type(value).__name__}")
    return dict(tags)


def _check_number(value: Any, what: str, *, positive: bool = False, allow_none: bool = False) -> Optional[float]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{what}: expected a finite number, got {value!r}")
    value = float(value)
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{what}: expected a {'positive' if positive else 'non-negative'} number, got {value!r}")
    return value


def fit(
    model: nn.Module, train: Iterable[Any], val: Iterable[Any], *, test: Optional[Iterable[Any]] = None,
    loss: Optional[LossFn] = None, metrics: Optional[MetricsFn] = None, monitor: Optional[str] = None,
    mode: Optional[str] = None, epochs: int = 20, lr: float = 1e-3, weight_decay: float = 1e-2,
    scheduler: str = "cosine", warmup_epochs: int = 0, patience: Optional[int] = None,
    grad_clip: Optional[float] = None, checkpoint_dir: Optional[Union[str, Path]] = None, resume: bool = False,
    seed: int = 0, device: Union[str, torch.device] = "cpu", progress: bool = True,
    log: Optional[Union[Callable[[dict[str, Any]], None], logging.Logger]] = None,
    history_tags: Optional[Mapping[str, Union[str, int, float, bool]]] = None,
) -> FitResult:
    r"""Train ``model`` with AdamW, keep the best weights by a validation metric, and test them.

    Each epoch trains on every batch of ``train``, then evaluates on ``val``. The weights of the
    epoch with the best monitored validation metric (ties: the earlier) are loaded back at the
    end, and only they are tested. The model is left on ``device`` in eval mode. Under
    ``torchrun`` the run is spread over the processes (:mod:`mmgraph.train.distributed`).

    Args:
        model: The model (e.g. from :func:`mmgraph.get_model`); trained in place.
        train: Batches with targets ``y``: a list, a :class:`~mmgraph.data.MultimodalLoader`, or a
            DataLoader with ``collate_fn=mmgraph.collate``; re-iterated each epoch.
        val, test: Validation and (optional) test batches, as ``train``.
        loss: ``loss(out, y) -> scalar``; default by ``model.task`` (:func:`default_loss`). A model's
            ``auxiliary_loss`` attribute (a scalar set in its training forward) is added.
        metrics: ``metrics(preds, targets) -> dict[str, float]``; default by task (:func:`default_metrics`).
        monitor, mode: The validation metric that picks the best epoch (and stops early), and
            ``"max"``/``"min"``; defaults by task, else ``"acc"`` and :func:`~mmgraph.train.metrics.metric_mode`.
        epochs: Maximum number of epochs (``>= 1``).
        lr, weight_decay: AdamW's peak learning rate (``>= 0``) and decoupled weight decay.
        scheduler, warmup_epochs: Per step, a linear warm-up over ``warmup_epochs``, then a cosine
            decay to 0 at the last step (``"cosine"``) or a constant rate (``"none"``).
        patience: Stop after this many epochs without improvement (``None``: never early).
        grad_clip: Clip the global gradient norm to this value (``None``: no clipping).
        checkpoint_dir: Where ``best``/``last.safetensors`` and ``resume.pt`` go after each epoch
            (:meth:`Trainer.checkpoint`); created if needed.
        resume: Continue an interrupted run from ``checkpoint_dir/resume.pt`` if it exists; it ends
            exactly as an uninterrupted run would on CPU (:meth:`Trainer.resume`).
        seed: Seeds Python, NumPy and torch first: same seed, model and data, same result on CPU.
        device: Where to train.
        progress: tqdm bars in a terminal, one line per epoch otherwise (``sys.stderr``).
        log: Called with each epoch's history record; a :class:`logging.Logger` gets an ``info`` line.
        history_tags: Plain values added to the history record of every epoch this call runs
            (not ``epoch``, ``train_loss``, ``lr``, ``train_seconds``, ``seconds`` or ``val_*``).

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: naming the argument, for an invalid argument, data that is not an iterable of
            batches, batches without targets, targets the default loss cannot use (checked in the
            first epoch, naming the batch and sample), a ``monitor`` the metrics lack, or a
            ``resume.pt`` saved with other settings.
    """
    epochs, lr, weight_decay, warmup_epochs, patience, grad_clip, tags = _check_arguments(
        model, train, val, test, loss, metrics, epochs, lr, weight_decay, scheduler, warmup_epochs, patience,
        grad_clip, mode, resume, checkpoint_dir, monitor, history_tags)
    task = _task_of(model)
    monitor, mode = default_monitor(task, monitor, mode)
    ctx = from_environment(device)  # several processes under torchrun
    seed_everything(seed)
    model.to(torch.device(device) if ctx is None else ctx.device)
    steps_per_epoch = _num_batches(train)
    if steps_per_epoch == 0:
        raise ValueError("train: is empty; expected at least one batch")
    ckpt_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    if ckpt_dir is not None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(
        model, loss=default_loss(task) if loss is None else loss,
        metrics=default_metrics(task) if metrics is None else metrics, monitor=monitor, mode=mode, epochs=epochs,
        lr=lr, weight_decay=weight_decay, scheduler=scheduler, warmup_epochs=warmup_epochs, patience=patience,
        grad_clip=grad_clip, seed=seed, steps_per_epoch=steps_per_epoch, checkpoint_dir=ckpt_dir,
        check_task=task if loss is None and task in ("classification", "regression") else None,
        progress=progress, log=log, history_tags=tags, distributed=ctx)
    if resume:
        trainer.resume(train)
    return trainer.run(train, val, test)


def _check_arguments(model: Any, train: Any, val: Any, test: Any, loss: Any, metrics: Any, epochs: Any, lr: Any,
                     weight_decay: Any, scheduler: Any, warmup_epochs: Any, patience: Any, grad_clip: Any,
                     mode: Any, resume: Any, checkpoint_dir: Any, monitor: Any, history_tags: Any) -> tuple:
    """:func:`fit`'s arguments checked: ``(epochs, lr, weight_decay, warmup_epochs, patience, grad_clip, tags)``."""
    epochs = check_int(epochs, "epochs", low=1)
    lr = _check_number(lr, "lr")
    weight_decay = _check_number(weight_decay, "weight_decay")
    warmup_epochs = check_int(warmup_epochs, "warmup_epochs", low=0)
    if warmup_epochs > epochs:
        raise ValueError(f"warmup_epochs: expected at most epochs ({epochs}), got {warmup_epochs}")
    patience = check_int(patience, "patience", low=1, allow_none=True)
    grad_clip = _check_number(grad_clip, "grad_clip", positive=True, allow_none=True)
    _check_choices(scheduler, mode, resume, checkpoint_dir, monitor)
    tags = _check_tags(history_tags)
    for name, fn in (("loss", loss), ("metrics", metrics)):
        if fn is not None and not callable(fn):
            raise ValueError(f"{name}: expected a callable, got {type(fn).__name__}")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    for what, data in (("train", train), ("val", val), ("test", test)):
        if data is not None or what != "test":
            _check_iterable(data, what)
    return epochs, lr, weight_decay, warmup_epochs, patience, grad_clip, tags


def _check_choices(scheduler: Any, mode: Any, resume: Any, checkpoint_dir: Any, monitor: Any) -> None:
    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler: expected one of {list(SCHEDULERS)}, got {scheduler!r}")
    if mode is not None and mode not in ("min", "max"):
        raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
    if not isinstance(resume, bool):
        raise ValueError(f"resume: expected a bool, got {resume!r}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume: needs checkpoint_dir (where resume.pt is kept), got checkpoint_dir=None")
    if monitor is not None and not isinstance(monitor, str):
        raise ValueError(f"monitor: expected a metric name (str), got {monitor!r}")
