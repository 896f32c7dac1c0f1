"""Training loop for registered fusion models: :func:`fit`, plus :func:`evaluate` and :func:`predict`."""

from __future__ import annotations

import logging
import math
import numbers
import random
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Callable, Iterable, Mapping, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from mmgraph.train.checkpoint import save_checkpoint
from mmgraph.train.metrics import classification_metrics, mosi_metrics
from mmgraph.utils.io import atomic_write
from mmgraph.utils.progress import interactive, progress_line
from mmgraph.utils.seed import seed_everything

__all__ = ["FitResult", "fit", "evaluate", "predict", "default_loss", "default_metrics", "SCHEDULERS"]

LossFn = Callable[[Tensor, Tensor], Tensor]
MetricsFn = Callable[[Tensor, Tensor], Mapping[str, float]]

#: Accepted values of ``fit(scheduler=...)``.
SCHEDULERS = ("cosine", "none")

# Monitored metrics for which lower is better when ``mode`` is not given.
_LOWER_IS_BETTER_SUFFIXES = ("loss", "mae", "mse", "rmse", "error", "nll")


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


# ----------------------------------------------------------------------------- defaults


def _classification_loss(out: Tensor, y: Tensor) -> Tensor:
    if y.is_floating_point() and y.shape == out.shape:  # class probabilities (soft labels)
        return F.cross_entropy(out, y.to(out.dtype))
    if y.numel() != out.size(0):
        raise ValueError(f"classification targets: expected one class index per sample ({out.size(0)}), got shape "
                         f"{tuple(y.shape)}")
    return F.cross_entropy(out, y.reshape(-1).long())


def _regression_loss(out: Tensor, y: Tensor) -> Tensor:
    if y.numel() != out.numel():
        raise ValueError(f"regression targets: expected {out.numel()} values to match the output "
                         f"{tuple(out.shape)}, got shape {tuple(y.shape)}")
    return F.l1_loss(out, y.to(out.dtype).reshape(out.shape))


def _task_of(model: nn.Module) -> Optional[str]:
    return getattr(model, "task", None)


def _auxiliary_loss(model: nn.Module) -> Union[Tensor, float]:
    """The ``auxiliary_loss`` the model's last forward set (``0.0`` if none)."""
    aux = getattr(model, "auxiliary_loss", None)
    if aux is None:
        return 0.0
    if not isinstance(aux, Tensor) or aux.numel() != 1:
        got = tuple(aux.shape) if isinstance(aux, Tensor) else type(aux).__name__
        raise ValueError(f"model.auxiliary_loss: expected None or a scalar tensor, got {got}")
    return aux.reshape(())


def default_loss(task: Optional[str]) -> LossFn:
    """The loss :func:`fit` uses for ``task``: cross-entropy (classification) or L1 (regression)."""
    if task == "classification":
        return _classification_loss
    if task == "regression":
        return _regression_loss
    raise ValueError(f"no default loss for task {task!r}; pass loss=callable(out, y) -> scalar tensor")


def default_metrics(task: Optional[str]) -> MetricsFn:
    """The metrics :func:`fit`/:func:`evaluate` use for ``task``: :func:`classification_metrics` or :func:`mosi_metrics`."""
    if task == "classification":
        return classification_metrics
    if task == "regression":
        return mosi_metrics
    raise ValueError(f"no default metrics for task {task!r}; pass metrics=callable(preds, targets) -> dict")


def _default_monitor(task: Optional[str]) -> tuple[str, str]:
    if task == "regression":
        return "mae", "min"
    return "acc", "max"


# ----------------------------------------------------------------------------- data helpers


_EXPECTED = "an iterable of MultimodalBatch (a list of batches, or a DataLoader with collate_fn=mmgraph.collate)"


def _check_iterable(data: Any, what: str) -> None:
    if data is None:
        raise ValueError(f"{what}: expected {_EXPECTED}, got None")
    _check_not_one_item(data, what)
    if not isinstance(data, Iterable):
        raise ValueError(f"{what}: expected {_EXPECTED}, got {type(data).__name__}")
    if isinstance(data, Iterator):
        raise ValueError(
            f"{what}: got a one-shot iterator ({type(data).__name__}), but it is iterated once per epoch; "
            "pass a list of batches or a DataLoader"
        )
    try:
        n = len(data)
    except TypeError:
        return
    if n == 0:
        raise ValueError(f"{what}: is empty; expected at least one batch")
    if isinstance(data, (list, tuple)):
        _check_batch_type(data[0], what, 0)


def _check_not_one_item(data: Any, what: str) -> None:
    """Refuse one batch, one sample, a tensor, a dict or a string given where batches are expected."""
    from mmgraph.data.batch import MultimodalBatch
    from mmgraph.data.sample import MultimodalSample

    if isinstance(data, MultimodalBatch):
        raise ValueError(f"{what}: expected {_EXPECTED}, got a single MultimodalBatch; pass [batch]")
    if isinstance(data, MultimodalSample):
        raise ValueError(f"{what}: expected {_EXPECTED}, got a single MultimodalSample; collate samples into "
                         "batches first, e.g. [mmgraph.collate(samples)]")
    if isinstance(data, (Tensor, Mapping, str, bytes)):
        raise ValueError(f"{what}: expected {_EXPECTED}, got {type(data).__name__}")


def _check_batch_type(batch: Any, what: str, index: int) -> None:
    """Refuse a sample, a tensor, a string, a number ... where a batch (with ``.to`` and ``.y``) is expected."""
    from mmgraph.data.sample import MultimodalSample

    if isinstance(batch, MultimodalSample):
        raise ValueError(f"{what}: expected {_EXPECTED}, got a list of MultimodalSample; collate them into batches: "
                         "[mmgraph.collate(samples)] or a DataLoader(samples, batch_size=..., "
                         "collate_fn=mmgraph.collate)")
    if isinstance(batch, str):
        raise ValueError(f"{what}: expected {_EXPECTED}; batch {index} is a str ({batch!r}): iterating over one "
                         "MultimodalBatch yields its modality names (for one batch, pass [batch])")
    if isinstance(batch, (Tensor, bytes, numbers.Number)) or not hasattr(batch, "to"):
        raise ValueError(f"{what}: expected {_EXPECTED}; batch {index} is a {type(batch).__name__}")


def _num_batches(data: Iterable[Any]) -> int:
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:  # e.g. a DataLoader over an IterableDataset: count once
        return sum(1 for _ in data)


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def _targets(batch: Any, what: str, index: int) -> Tensor:
    y = getattr(batch, "y", None)
    if y is None:
        kind = type(batch).__name__
        raise ValueError(f"{what}: batch {index} ({kind}) has no targets (y is None); every batch needs y")
    return y


def _check_targets(out: Tensor, y: Tensor, task: Optional[str], what: str, index: int) -> None:
    """Refuse targets the default loss cannot use, naming batch ``index`` and the sample.

    Classification targets must be class indices in ``[0, out_dim)`` (integers, or floats with
    integer values), unless they are class probabilities of the output's shape; regression
    targets must be finite. Runs on CPU targets only (no device sync): :func:`fit` calls it
    on the targets before they are moved, in the first epoch.
    """
    if y.device.type != "cpu" or out.dim() < 1 or y.numel() == 0:
        return
    if task == "classification":
        if y.is_floating_point() and y.shape == out.shape:  # class probabilities (soft labels)
            bad = ~torch.isfinite(y)
            if bool(bad.any()):
                sample = int(bad.nonzero()[0, 0])
                raise ValueError(f"{what}: batch {index}, sample {sample}: class probabilities must be finite, got "
                                 f"{y[sample].tolist()}")
            return
        if y.numel() != out.size(0):
            return  # the loss names the shape mismatch
        flat, out_dim = y.reshape(-1), out.size(-1)
        if flat.is_floating_point() or flat.is_complex():
            bad = ~torch.isfinite(flat) | (flat != flat.round())
            if bool(bad.any()):
                sample = int(bad.nonzero()[0, 0])
                raise ValueError(f"{what}: batch {index}, sample {sample}: class target {flat[sample].item()!r} is not "
                                 f"a class index; expected integers in [0, {out_dim}) (out_dim {out_dim}, the model's "
                                 f"output width), or class probabilities of the output's shape {tuple(out.shape)}")
        bad = (flat < 0) | (flat >= out_dim)
        if bool(bad.any()):
            sample = int(bad.nonzero()[0, 0])
            value = flat[sample].item()
            raise ValueError(f"{what}: batch {index}, sample {sample}: class target {value:g} is out of range; "
                             f"expected class indices in [0, {out_dim}) (out_dim {out_dim}, the model's output width)")
    elif task == "regression" and y.is_floating_point():
        bad = ~torch.isfinite(y.reshape(y.size(0), -1) if y.dim() > 0 else y.reshape(1, 1))
        if bool(bad.any()):
            sample = int(bad.nonzero()[0, 0])
            values = y.reshape(y.size(0), -1)[sample].tolist() if y.dim() > 0 else [y.item()]
            raise ValueError(f"{what}: batch {index}, sample {sample}: regression target {values} is not finite; "
                             "expected finite numbers (no NaN or infinity)")


def _predict(model: nn.Module, data: Iterable[Any], what: str,
             check: Optional[Callable[[Tensor, Tensor, int], None]] = None) -> tuple[Tensor, Optional[Tensor]]:
    _check_iterable(data, what)
    device = _model_device(model)
    was_training = model.training
    model.eval()
    preds: list[Tensor] = []
    targets: list[Tensor] = []
    try:
        with torch.no_grad():
            for i, batch in enumerate(data):
                has_y = getattr(batch, "y", None) is not None
                if i > 0 and has_y != bool(targets):
                    raise ValueError(f"{what}: some batches have targets y and others do not (batch {i})")
                out = model(batch.to(device))
                if not isinstance(out, Tensor):
                    raise ValueError(f"{what}: the model returned {type(out).__name__}, expected a tensor")
                preds.append(out.detach().cpu())
                if batch.y is not None:
                    targets.append(batch.y.detach().cpu())
                    if check is not None:
                        check(preds[-1], targets[-1], i)
    finally:
        model.train(was_training)
    if not preds:
        raise ValueError(f"{what}: is empty; expected at least one batch")
    return torch.cat(preds), (torch.cat(targets) if targets else None)


def predict(model: nn.Module, data: Iterable[Any]) -> tuple[Tensor, Optional[Tensor]]:
    """Run ``model`` over ``data`` in eval mode without gradients.

    Batches are moved to the model's device; the model's train/eval mode is restored afterwards.

    Args:
        model: A module taking a :class:`~mmgraph.MultimodalBatch`.
        data: An iterable of batches (a list, or a DataLoader with ``collate_fn=mmgraph.collate``).

    Returns:
        ``(preds, targets)`` on the CPU: the concatenated outputs ``(N, out_dim)`` and the
        concatenated ``y`` (``None`` when no batch has targets).

    Raises:
        ValueError: for empty data, or batches of which only some have targets.
    """
    return _predict(model, data, "data")


def _as_metric_dict(values: Any, what: str) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise ValueError(f"{what}: the metrics callable must return a dict of floats, got {type(values).__name__}")
    out: dict[str, float] = {}
    for k, v in values.items():
        if isinstance(v, Tensor):
            v = v.item()
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{what}: metric {k!r} is not a number: {v!r}") from None
    return out


def _evaluate(model: nn.Module, data: Iterable[Any], metrics: MetricsFn, what: str,
              check: Optional[Callable[[Tensor, Tensor, int], None]] = None) -> dict[str, float]:
    preds, targets = _predict(model, data, what, check)
    if targets is None:
        raise ValueError(f"{what}: batch 0 has no targets (y is None); evaluation needs y")
    return _as_metric_dict(metrics(preds, targets), what)


def evaluate(model: nn.Module, data: Iterable[Any], metrics: Optional[MetricsFn] = None) -> dict[str, float]:
    """Metrics of ``model`` on ``data`` (eval mode, no gradients).

    Args:
        model: A module taking a :class:`~mmgraph.MultimodalBatch`.
        data: An iterable of batches with targets ``y``.
        metrics: ``metrics(preds, targets) -> dict``; default from ``model.task``
            (:func:`classification_metrics` or :func:`mosi_metrics`).

    Raises:
        ValueError: for empty data, batches without targets, or no default metrics for the model's task.
    """
    metrics = default_metrics(_task_of(model)) if metrics is None else metrics
    return _evaluate(model, data, metrics, "data")


# ----------------------------------------------------------------------------- fit


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


def _check_int(value: Any, what: str, *, minimum: int, allow_none: bool = False) -> Optional[int]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{what}: expected an int >= {minimum}, got {value!r}")
    return int(value)


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


def _load_resume_state(path: Path, settings: dict[str, Any]) -> dict[str, Any]:
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
    saved = state.get("settings", {})
    differ = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
    if differ:
        listed = "; ".join(f"{k}: saved {a!r}, got {b!r}" for k, (a, b) in sorted(differ.items()))
        raise ValueError(f"resume: {str(path)!r} was saved by a run with other settings ({listed}); "
                         f"use the same settings or another checkpoint_dir")
    return state


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
      ``(B, 1)``), :func:`mosi_metrics`, monitor ``"mae"`` with mode ``"min"``.

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
            ``"min"`` if its name ends in loss/mae/mse/rmse/error/nll, else ``"max"``.
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
    epochs = _check_int(epochs, "epochs", minimum=1)
    lr = _check_number(lr, "lr")
    weight_decay = _check_number(weight_decay, "weight_decay")
    warmup_epochs = _check_int(warmup_epochs, "warmup_epochs", minimum=0)
    if warmup_epochs > epochs:
        raise ValueError(f"warmup_epochs: expected at most epochs ({epochs}), got {warmup_epochs}")
    patience = _check_int(patience, "patience", minimum=1, allow_none=True)
    grad_clip = _check_number(grad_clip, "grad_clip", positive=True, allow_none=True)
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
    tags = _check_tags(history_tags)
    for name, fn in (("loss", loss), ("metrics", metrics)):
        if fn is not None and not callable(fn):
            raise ValueError(f"{name}: expected a callable, got {type(fn).__name__}")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    _check_iterable(train, "train")
    _check_iterable(val, "val")
    if test is not None:
        _check_iterable(test, "test")

    task = _task_of(model)
    loss_fn = default_loss(task) if loss is None else loss
    metrics_fn = default_metrics(task) if metrics is None else metrics
    if monitor is None:
        monitor, default_mode = _default_monitor(task)
        mode = default_mode if mode is None else mode
    elif mode is None:
        mode = "min" if monitor.lower().endswith(_LOWER_IS_BETTER_SUFFIXES) else "max"

    seed_everything(seed)
    device = torch.device(device)
    model.to(device)
    steps_per_epoch = _num_batches(train)
    if steps_per_epoch == 0:
        raise ValueError("train: is empty; expected at least one batch")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model: has no trainable parameters")
    # foreach: one fused update over all parameters instead of a Python loop (same maths, ~5x faster on CPU).
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=True)
    sched = None
    if scheduler == "cosine" or warmup_epochs > 0:
        factor = _lr_factor(warmup_epochs * steps_per_epoch, epochs * steps_per_epoch, scheduler == "cosine")
        sched = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

    ckpt_dir = None
    if checkpoint_dir is not None:
        ckpt_dir = Path(checkpoint_dir)
        ckpt_dir.mkdir(parents=True, exist_ok=True)

    history: list[dict[str, Any]] = []
    train_seconds: list[float] = []
    best_value: Optional[float] = None
    best_epoch = 0
    best_val: dict[str, float] = {}
    best_state: Optional[dict[str, Tensor]] = None
    since_best = 0
    stopped_early = False
    settings = {"epochs": epochs, "lr": lr, "weight_decay": weight_decay, "scheduler": scheduler,
                "warmup_epochs": warmup_epochs, "patience": patience, "grad_clip": grad_clip, "seed": seed,
                "monitor": monitor, "mode": mode, "steps_per_epoch": steps_per_epoch}
    first_epoch = 1
    if resume and ckpt_dir is not None and (ckpt_dir / RESUME_FILE).exists():
        state = _load_resume_state(ckpt_dir / RESUME_FILE, settings)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if sched is not None:
            sched.load_state_dict(state["scheduler"])
        history, train_seconds = list(state["history"]), list(state["train_seconds"])
        best_value, best_epoch, best_val = state["best_value"], state["best_epoch"], dict(state["best_val"])
        best_state = state["best_state"]
        since_best, stopped_early = state["since_best"], state["stopped_early"]
        _set_random_state(state["random"], train)
        first_epoch = len(history) + 1
        if stopped_early:
            first_epoch = epochs + 1

    bars = progress and interactive()  # in a log file or CI: one line per epoch instead of redrawn bars
    check_targets = loss is None and task in ("classification", "regression")

    def check(what: str) -> Callable[[Tensor, Tensor, int], None]:
        return lambda out, y, index: _check_targets(out, y, task, what, index)

    epoch_bar = tqdm(range(first_epoch, epochs + 1), desc="fit", unit="epoch", disable=not bars,
                     dynamic_ncols=True, initial=first_epoch - 1, total=epochs)
    try:
        for epoch in epoch_bar:
            t0 = time.perf_counter()
            model.train()
            epoch_lr = float(optimizer.param_groups[0]["lr"])
            total, count = 0.0, 0
            batch_bar = tqdm(train, total=steps_per_epoch, desc=f"epoch {epoch}", unit="batch", leave=False,
                             disable=not bars, dynamic_ncols=True)
            first = epoch == first_epoch  # the data are checked in the first epoch only: no cost later
            try:
                for i, batch in enumerate(batch_bar):
                    if first:
                        _check_batch_type(batch, "train", i)
                    y = _targets(batch, "train", i)  # on the CPU, before it is moved
                    batch = batch.to(device)
                    out = model(batch)
                    if first and check_targets and isinstance(out, Tensor):
                        _check_targets(out, y, task, "train", i)
                    value = loss_fn(out, batch.y)
                    if not isinstance(value, Tensor) or value.numel() != 1:
                        raise ValueError(f"loss: expected a scalar tensor, got {type(value).__name__} "
                                         f"{tuple(value.shape) if isinstance(value, Tensor) else ''}")
                    value = value + _auxiliary_loss(model)
                    step_loss = float(value.detach())  # the one host sync of a step
                    if not math.isfinite(step_loss):
                        raise ValueError(f"train: the loss is {step_loss} at epoch {epoch}, batch {i}; the weights "
                                         "are left as before this batch (check the inputs' scale, or lower lr)")
                    optimizer.zero_grad(set_to_none=True)
                    value.backward()
                    if grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(params, grad_clip)
                    optimizer.step()
                    if sched is not None:
                        sched.step()
                    n = int(y.size(0))
                    total += step_loss * n
                    count += n
            finally:
                batch_bar.close()
            if count == 0:
                raise ValueError(f"train: yielded no batches in epoch {epoch}; expected at least one")
            train_s = time.perf_counter() - t0
            train_seconds.append(train_s)
            train_loss = total / count

            val_metrics = _evaluate(model, val, metrics_fn, "val", check("val") if first and check_targets else None)
            if monitor not in val_metrics:
                raise ValueError(f"monitor: {monitor!r} is not a validation metric; available: {sorted(val_metrics)}")
            current = val_metrics[monitor]
            improved = _better(current, best_value, mode)
            if improved:
                best_value, best_epoch, best_val = current, epoch, dict(val_metrics)
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                since_best = 0
            else:
                since_best += 1

            meta = {"epoch": epoch, "train_loss": train_loss, "val": val_metrics, "monitor": monitor,
                    "mode": mode, "seed": seed, "model": type(model).__name__}
            if ckpt_dir is not None:
                if improved:
                    save_checkpoint(ckpt_dir / "best.safetensors", model, meta)
                save_checkpoint(ckpt_dir / "last.safetensors", model, meta, optimizer=optimizer)

            record: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss}
            record.update({f"val_{k}": v for k, v in val_metrics.items()})
            record.update({"lr": epoch_lr, "train_seconds": train_s, "seconds": time.perf_counter() - t0})
            record.update(tags)
            history.append(record)
            epoch_bar.set_postfix({"train_loss": f"{train_loss:.4f}", f"val_{monitor}": f"{current:.4f}"})
            if progress and not bars:
                progress_line(f"fit: epoch {epoch}/{epochs}: train_loss {train_loss:.4f}, val_{monitor} {current:.4f}, "
                              f"{record['seconds']:.1f}s")
            if patience is not None and since_best >= patience and epoch < epochs:
                stopped_early = True
            if ckpt_dir is not None:
                _save_resume_state(ckpt_dir / RESUME_FILE, {
                    "settings": settings, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": None if sched is None else sched.state_dict(), "history": history,
                    "train_seconds": train_seconds, "best_value": best_value, "best_epoch": best_epoch,
                    "best_val": best_val, "best_state": best_state, "since_best": since_best,
                    "stopped_early": stopped_early, "random": _get_random_state(train)})
            _emit(log, record)
            if stopped_early:
                break
    finally:
        epoch_bar.close()

    if best_state is None:  # the monitored metric was NaN in every epoch
        warnings.warn(f"validation {monitor!r} was NaN in every epoch; keeping the last epoch's weights",
                      RuntimeWarning, stacklevel=2)
        best_epoch = len(history)
        best_val = {k[len("val_"):]: v for k, v in history[-1].items() if k.startswith("val_")}
    else:
        model.load_state_dict(best_state)
    model.eval()

    test_metrics = None if test is None else _evaluate(model, test, metrics_fn, "test",
                                                       check("test") if check_targets else None)
    return FitResult(
        best_epoch=best_epoch,
        best_val=best_val,
        test=test_metrics,
        history=history,
        train_s_per_epoch=sum(train_seconds) / len(train_seconds),
        epochs_run=len(history),
        monitor=monitor,
        mode=mode,
        stopped_early=stopped_early,
    )
