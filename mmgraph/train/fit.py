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
    model: nn.Module,
    train: Iterable[Any],
    val: Iterable[Any],
    *,
    test: Optional[Iterable[Any]] = None,
    loss: Optional[LossFn] = None,
    metrics: Optional[MetricsFn] = None,
    monitor: Optional[str] = None,
    mode: Optional[str] = None,
    epochs: int = 20,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
    scheduler: str = "cosine",
    warmup_epochs: int = 0,
    patience: Optional[int] = None,
    grad_clip: Optional[float] = None,
    checkpoint_dir: Optional[Union[str, Path]] = None,
    resume: bool = False,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    progress: bool = True,
    log: Optional[Union[Callable[[dict[str, Any]], None], logging.Logger]] = None,
    history_tags: Optional[Mapping[str, Union[str, int, float, bool]]] = None,
) -> FitResult:
    r"""Train ``model`` with AdamW, keep the best weights by a validation metric, and test them.

    Each epoch trains on every batch of ``train``, then evaluates on ``val``. The model
    state of the epoch with the best monitored validation metric (ties keep the earlier
    epoch) is kept in memory and loaded back into ``model`` at the end; the test metrics
    are computed only with those weights (never the best over epochs). The model is left
    on ``device`` in eval mode.

    Defaults come from ``model.task``:

    - ``"classification"``: cross-entropy on class indices ``y`` (or on class
      probabilities when ``y`` has the output's shape), :func:`classification_metrics`,
      monitor ``"acc"`` with mode ``"max"``;
    - ``"regression"``: L1 loss on ``y`` as float, reshaped like the output (``(B,)`` →
      ``(B, 1)``), :func:`~mmgraph.train.kinds.regression_scores` (``mae``, ``rmse``, ``corr``,
      ``r2``), monitor ``"mae"`` with mode ``"min"``.

    Other tasks (``"embedding"``) need ``loss`` and ``metrics``.

    The learning rate follows, per optimizer step, a linear warm-up over ``warmup_epochs``
    epochs (from ``lr / warmup_steps`` to ``lr``) and then, with ``scheduler="cosine"``, a
    cosine decay reaching 0 after the last step of epoch ``epochs``
    (:class:`torch.optim.lr_scheduler.LambdaLR`); ``scheduler="none"`` keeps ``lr`` after
    the warm-up. The steps per epoch are ``len(train)`` (counted once if ``train`` has no length).

    Args:
        model: The model (e.g. from :func:`mmgraph.get_model`); trained in place and moved to ``device``.
        train: Training batches: an iterable of :class:`~mmgraph.MultimodalBatch` with ``y``
            (a :class:`~mmgraph.data.MultimodalLoader` over a dataset, a list, or a DataLoader with
            ``collate_fn=mmgraph.collate``), re-iterated each epoch (a one-shot iterator is refused).
        val: Validation batches, as ``train``.
        test: Optional test batches, as ``train``.
        loss: ``loss(out, y) -> scalar tensor``; default from the task. A model that sets an
            ``auxiliary_loss`` attribute (a scalar tensor) in its training forward gets it added
            (e.g. :class:`~mmgraph.retrieval.ClauseReranker`'s masked-word loss).
        metrics: ``metrics(preds, targets) -> dict[str, float]`` on the concatenated
            predictions and targets (CPU tensors); default from the task.
        monitor: Validation metric to select the best epoch and stop early on; default from
            the task (``"acc"`` for tasks without defaults), checked against the metrics
            returned by the first validation.
        mode: ``"max"`` or ``"min"``; default from the task, or, for a custom ``monitor``,
            :func:`~mmgraph.train.metrics.metric_mode` (``"min"`` if its name ends in
            loss/mae/mse/rmse/rank/error/nll, else ``"max"``).
        epochs: Maximum number of epochs (``>= 1``).
        lr: Peak learning rate (``>= 0``; ``0`` freezes the weights).
        weight_decay: AdamW's decoupled weight decay (applied to every parameter).
        scheduler: ``"cosine"`` or ``"none"``.
        warmup_epochs: Epochs of linear warm-up (``0 <= warmup_epochs <= epochs``).
        patience: Stop after this many epochs without improvement of the monitored metric
            (``None``: never stop early).
        grad_clip: Clip the global gradient norm to this value (``None``: no clipping).
        checkpoint_dir: If given (created if needed), ``best.safetensors`` is written
            whenever the monitored metric improves and ``last.safetensors`` (with the
            optimizer state in ``last.optim.<generation>.pt``) after every epoch, via
            :func:`~mmgraph.train.save_checkpoint`; their metadata holds ``epoch``,
            ``train_loss``, ``val``, ``monitor``, ``mode`` and ``seed``. After every epoch
            the whole training state also goes to ``resume.pt`` (atomically; see ``resume``).
        resume: Continue an interrupted run from ``checkpoint_dir/resume.pt`` if it exists
            (otherwise start afresh): the weights, optimizer, learning-rate schedule, history,
            best epoch so far, the random states of Python, NumPy and torch, and that of
            ``train.generator`` when ``train`` has one (e.g. a
            :class:`~torch.utils.data.DataLoader` built with a ``generator``, or the bench's
            batches). When all the randomness of training lives in those generators, the
            resumed run ends exactly as an uninterrupted one would on CPU. The settings that
            shape the run (``epochs``, ``lr``, ``weight_decay``, ``scheduler``,
            ``warmup_epochs``, ``patience``, ``grad_clip``, ``seed``, ``monitor``, ``mode`` and
            the number of batches per epoch) must be those of the interrupted run. A run that
            had already ended is not trained further.
        seed: Passed to :func:`mmgraph.seed_everything` first, so two calls with the same
            seed, the same initial model and data give identical results on CPU (DataLoader
            shuffling and dropout included).
        device: Where to train.
        progress: Show progress on ``sys.stderr``: in a terminal, tqdm bars (epochs, with train loss
            and the monitored val metric; batches); otherwise (a log file, CI) one line per epoch
            with the epoch, train loss, monitored val metric and seconds.
        log: Called with each epoch's history dict; a :class:`logging.Logger` gets one
            ``info`` line per epoch instead.
        history_tags: Plain values (str, int, float, bool) added to the history record of
            every epoch this call runs, e.g. ``{"processor": ...}``: the epochs of a run
            resumed elsewhere keep the tags of the call that ran them. Keys must not be
            ``epoch``, ``train_loss``, ``lr``, ``train_seconds``, ``seconds`` or start with ``val_``.

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: for an invalid argument (``epochs``, ``lr``, ``scheduler`` ...), empty
            ``train``/``val``, data that is not an iterable of batches (one batch: pass
            ``[batch]``; samples: collate them), a batch without targets, targets the default
            loss cannot use (class indices outside ``[0, out_dim)`` or not integers, NaN or
            infinite regression targets: checked on CPU in the first epoch, naming the batch and
            the sample), a ``monitor`` not among the
            validation metrics (naming those available), a model task without defaults
            when ``loss``/``metrics`` are not given, ``resume`` without ``checkpoint_dir``, or
            a ``resume.pt`` saved with other settings (naming them).
    """
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
