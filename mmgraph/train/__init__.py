"""Training utilities: :func:`fit` (a :class:`Trainer` run) / :func:`evaluate` / :func:`predict`, metrics and checkpoints.

Example:
    >>> import mmgraph as mg
    >>> import mmgraph.train
    >>> # result = mg.train.fit(model, train_loader, val_loader, test=test_loader, epochs=20)
"""

from mmgraph.train.checkpoint import (
    METADATA_KEY,
    checkpoint_shapes,
    load_checkpoint,
    optimizer_path,
    read_metadata,
    save_checkpoint,
)
from mmgraph.train.fit import SCHEDULERS, FitResult, default_loss, default_metrics, evaluate, fit, predict
from mmgraph.train.metrics import classification_metrics, metric_mode, mosi_metrics
from mmgraph.train.trainer import Trainer

__all__ = [
    "fit",
    "Trainer",
    "evaluate",
    "predict",
    "FitResult",
    "default_loss",
    "default_metrics",
    "SCHEDULERS",
    "classification_metrics",
    "mosi_metrics",
    "metric_mode",
    "save_checkpoint",
    "load_checkpoint",
    "read_metadata",
    "optimizer_path",
    "checkpoint_shapes",
    "METADATA_KEY",
]
