"""What :func:`~mmgraph.train.fit` uses when not told: losses, metrics and the monitored metric per task."""

from __future__ import annotations

from typing import Callable, Mapping, Optional, Union

import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.train.kinds import regression_scores
from mmgraph.train.metrics import classification_metrics, metric_mode

__all__ = ["LossFn", "MetricsFn", "default_loss", "default_metrics", "default_monitor"]

LossFn = Callable[[Tensor, Tensor], Tensor]
MetricsFn = Callable[[Tensor, Tensor], Mapping[str, float]]


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
    """The loss :func:`fit` uses for ``task``.

    - ``"classification"``: cross-entropy on class indices ``y``, or on class probabilities when
      ``y`` has the output's shape;
    - ``"regression"``: L1 on ``y`` as float, reshaped like the output (``(B,)`` → ``(B, 1)``).

    Other tasks (``"embedding"``) have none: pass ``loss=``.
    """
    if task == "classification":
        return _classification_loss
    if task == "regression":
        return _regression_loss
    raise ValueError(f"no default loss for task {task!r}; pass loss=callable(out, y) -> scalar tensor")


def default_metrics(task: Optional[str]) -> MetricsFn:
    """The metrics :func:`fit`/:func:`evaluate` use for ``task``: :func:`classification_metrics`, or
    :func:`~mmgraph.train.kinds.regression_scores` (``mae``, ``rmse``, ``corr``, ``r2``). A task's own
    metrics (e.g. :func:`mosi_metrics` for sentiment scores) are passed with ``metrics=``."""
    if task == "classification":
        return classification_metrics
    if task == "regression":
        return regression_scores
    raise ValueError(f"no default metrics for task {task!r}; pass metrics=callable(preds, targets) -> dict")


def default_monitor(task: Optional[str], monitor: Optional[str], mode: Optional[str]) -> tuple[str, str]:
    """``(monitor, mode)``: the task's (``"acc"``/max, regression ``"mae"``/min) unless given; a given
    monitor's mode defaults to :func:`~mmgraph.train.metrics.metric_mode`."""
    if monitor is None:
        monitor, default = ("mae", "min") if task == "regression" else ("acc", "max")
        return monitor, default if mode is None else mode
    return monitor, metric_mode(monitor) if mode is None else mode
