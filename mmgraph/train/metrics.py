"""Evaluation metrics (computed with scikit-learn / SciPy): classification accuracy and CMU-MOSI sentiment metrics."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# scikit-learn and SciPy are imported inside the functions: importing scipy.stats costs ~1 s,
# which ``import mmgraph.train`` (and the CLI) should not pay before a metric is computed.

__all__ = ["classification_metrics", "mosi_metrics", "metric_mode", "LOWER_IS_BETTER"]


#: Metrics whose name ends with one of these are better when lower (losses, errors, ranks).
LOWER_IS_BETTER: tuple[str, ...] = ("loss", "mae", "mse", "rmse", "rank", "error", "nll")


def metric_mode(metric: str) -> str:
    """``"min"`` if lower values of ``metric`` are better (its name ends in one of :data:`LOWER_IS_BETTER`), else ``"max"``.

    Example:
        >>> metric_mode("val_mae"), metric_mode("mean_rank"), metric_mode("acc")
        ('min', 'min', 'max')
    """
    return "min" if str(metric).lower().endswith(LOWER_IS_BETTER) else "max"


def _as_array(value: Any, what: str, flatten: bool = True, finite: bool = False) -> np.ndarray:
    """``value`` (tensor, array, sequence) as a NumPy array on the CPU; ``ValueError`` naming ``what``."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor, without importing torch here
        value = value.detach().cpu()
        if value.dtype.is_floating_point:
            value = value.double()  # also handles bfloat16/float16, which NumPy lacks or handles poorly
        value = value.numpy()
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{what}: expected a tensor or array, got {type(value).__name__}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"{what}: expected numbers, got an array of dtype {arr.dtype}")
    if flatten:
        arr = arr.reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{what}: expected at least one value, got an empty input")
    if np.issubdtype(arr.dtype, np.floating) and np.isnan(arr).any():
        raise ValueError(f"{what}: contains NaN ({int(np.isnan(arr).sum())} of {arr.size} values)")
    if finite and np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError(f"{what}: contains infinite values ({int(np.isinf(arr).sum())} of {arr.size})")
    return arr


def _check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must have the same length, got {len(a)} and {len(b)}")


def classification_metrics(logits_or_labels: Any, targets: Any) -> dict[str, float]:
    r"""Accuracy of a classifier.

    Args:
        logits_or_labels: Either logits / scores of shape :math:`(N, C)` with :math:`C \ge 2`
            (the prediction is the arg-max over the last dimension) or predicted class
            indices of shape :math:`(N,)`.
        targets: True class indices, :math:`(N,)` (or anything with :math:`N` elements, e.g. :math:`(N, 1)`).

    Returns:
        ``{"acc": float}`` in :math:`[0, 1]` (:func:`sklearn.metrics.accuracy_score`).

    Raises:
        ValueError: for empty inputs, NaN values, a length mismatch, a ``(N, 1)`` score
            matrix (ambiguous: pass labels) or inputs with more than two dimensions.
    """
    from sklearn.metrics import accuracy_score

    scores = _as_array(logits_or_labels, "logits_or_labels", flatten=False)
    if scores.ndim == 2:
        if scores.shape[1] < 2:
            raise ValueError(
                f"logits_or_labels: a score matrix needs at least 2 columns (classes), got shape {scores.shape}; "
                "pass predicted labels of shape (N,) instead"
            )
        pred = scores.argmax(axis=-1)
    elif scores.ndim <= 1:
        pred = scores.reshape(-1)
    else:
        raise ValueError(f"logits_or_labels: expected shape (N, C) or (N,), got {scores.shape}")
    y = _as_array(targets, "targets")
    _check_same_length(pred, y, "logits_or_labels", "targets")
    return {"acc": float(accuracy_score(y, pred))}


def mosi_metrics(pred: Any, target: Any) -> dict[str, float]:
    r"""The standard CMU-MOSI / MOSEI sentiment metrics for scores in :math:`[-3, 3]`.

    Both inputs are flattened.

    - ``acc2`` / ``f1``: binary accuracy and **weighted** F1 of *negative* (:math:`x < 0`)
      versus *non-negative* (:math:`x \ge 0`). This is the "negative / non-negative"
      convention, in which a zero score counts as non-negative and no sample is dropped
      (the other convention in the literature, "negative / positive", excludes samples
      whose target is exactly zero; it is not the one computed here).
    - ``acc7``: 7-class accuracy on :math:`\mathrm{round}(\mathrm{clip}(x, -3, 3)) \in \{-3, \dots, 3\}`
      for both prediction and target. Rounding is NumPy's ``np.round`` (half to even:
      ``0.5 → 0``, ``1.5 → 2``, ``2.5 → 2``), as in the widely used MOSI evaluation code.
    - ``mae``: mean absolute error of the raw (unclipped) values.
    - ``corr``: Pearson correlation of the raw values; ``0.0`` when either side is
      constant (or there are fewer than two values), where it is undefined.

    Args:
        pred: Predicted scores, any shape with :math:`N` elements (tensor or array).
        target: True scores, :math:`N` elements.

    Returns:
        ``{"acc2", "f1", "acc7", "mae", "corr"}`` as floats.

    Raises:
        ValueError: for empty inputs, NaN or infinite values or a length mismatch (naming the argument).
    """
    from scipy import stats
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error

    p = _as_array(pred, "pred", finite=True).astype(np.float64)
    t = _as_array(target, "target", finite=True).astype(np.float64)
    _check_same_length(p, t, "pred", "target")
    p_bin, t_bin = (p >= 0).astype(np.int64), (t >= 0).astype(np.int64)
    p7 = np.round(np.clip(p, -3.0, 3.0)).astype(np.int64)
    t7 = np.round(np.clip(t, -3.0, 3.0)).astype(np.int64)
    if len(p) < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
        corr = 0.0
    else:
        corr = float(stats.pearsonr(p, t)[0])
        if not math.isfinite(corr):  # pragma: no cover - e.g. overflow on huge values
            corr = 0.0
    return {
        "acc2": float(accuracy_score(t_bin, p_bin)),
        "f1": float(f1_score(t_bin, p_bin, average="weighted", zero_division=0)),
        "acc7": float(accuracy_score(t7, p7)),
        "mae": float(mean_absolute_error(t, p)),
        "corr": corr,
    }
