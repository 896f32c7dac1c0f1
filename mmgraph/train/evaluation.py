"""Running a model over batches: :func:`predict` and :func:`evaluate`, and the checks of data given to training."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any, Callable, Iterable, Mapping, Optional

import torch
from torch import Tensor, nn

from mmgraph.train.defaults import MetricsFn, _task_of, default_metrics

__all__ = ["predict", "evaluate"]

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
