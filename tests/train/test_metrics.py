"""mmgraph.train metrics against values computed by hand on tiny inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import mmgraph.train as mt


# ----------------------------------------------------------------------------- classification


def test_accuracy_from_logits_takes_the_argmax() -> None:
    logits = torch.tensor([[2.0, 0.1, 0.0], [0.0, 0.0, 3.0], [0.0, 1.0, 0.5], [5.0, 0.0, 0.0]])
    # arg-max: 0, 2, 1, 0 ; targets: 0, 2, 2, 1 -> 2 of 4 right
    assert mt.classification_metrics(logits, torch.tensor([0, 2, 2, 1])) == {"acc": 0.5}


def test_accuracy_from_labels_numpy_and_column_targets() -> None:
    pred = np.array([1, 0, 1, 1, 2])
    target = torch.tensor([[1], [0], [0], [1], [2]])  # (N, 1) is flattened
    out = mt.classification_metrics(pred, target)
    assert out == {"acc": pytest.approx(0.8)}
    assert isinstance(out["acc"], float)


@pytest.mark.parametrize(
    "scores, targets, match",
    [
        (torch.zeros(3, 2), torch.zeros(4, dtype=torch.long), "same length"),
        (torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), "logits_or_labels.*empty"),
        (torch.tensor([[0.0, float("nan")]]), torch.tensor([0]), "logits_or_labels.*NaN"),
        (torch.tensor([0, 1]), torch.tensor([0.0, float("nan")]), "targets.*NaN"),
        (torch.zeros(3, 1), torch.zeros(3, dtype=torch.long), "at least 2 columns"),
        (torch.zeros(2, 2, 2), torch.zeros(2, dtype=torch.long), r"\(N, C\)"),
    ],
)
def test_classification_errors(scores, targets, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mt.classification_metrics(scores, targets)


# ----------------------------------------------------------------------------- MOSI


def test_mosi_acc2_and_weighted_f1() -> None:
    # negative (< 0) -> 0, non-negative (>= 0) -> 1
    pred = [-1.0, -0.2, -2.0, 0.5, 1.0, -0.1]  # bins 0 0 0 1 1 0
    target = [-1.0, -0.3, -1.5, -2.0, 2.0, 1.0]  # bins 0 0 0 0 1 1
    out = mt.mosi_metrics(np.array(pred), torch.tensor(target))
    assert out["acc2"] == pytest.approx(4 / 6)
    # class 0: support 4, TP 3, FP 1, FN 1 -> F1 0.75 ; class 1: support 2, TP 1, FP 1, FN 1 -> F1 0.5
    assert out["f1"] == pytest.approx((4 * 0.75 + 2 * 0.5) / 6)  # weighted, not macro (0.625)
    assert set(out) == {"acc2", "f1", "acc7", "mae", "corr"}
    assert all(isinstance(v, float) for v in out.values())


def test_mosi_zero_counts_as_non_negative() -> None:
    out = mt.mosi_metrics([0.0, -0.01, 0.0, 1.0], [0.0, 0.0, -1.0, 2.0])
    # pred bins 1 0 1 1 ; target bins 1 1 0 1 -> 2 of 4
    assert out["acc2"] == pytest.approx(0.5)


def test_mosi_acc7_rounds_half_to_even_after_clipping() -> None:
    pred = torch.tensor([0.5, 1.5, 2.5, -0.5, 3.7, -4.2, 1.49])  # -> 0, 2, 2, 0, 3, -3, 1
    target = torch.tensor([0.0, 2.0, 3.0, 0.2, 9.0, -3.0, 1.0])  # -> 0, 2, 3, 0, 3, -3, 1
    out = mt.mosi_metrics(pred, target)
    assert out["acc7"] == pytest.approx(6 / 7)
    expected_mae = np.mean(np.abs(np.array([0.5, 0.5, 0.5, 0.7, 5.3, 1.2, 0.49])))  # unclipped
    assert out["mae"] == pytest.approx(expected_mae, rel=1e-6)


def test_mosi_pearson_correlation() -> None:
    out = mt.mosi_metrics(torch.tensor([[1.0], [2.0], [3.0]]), [2.0, 4.0, 7.0])
    # deviations (-1, 0, 1) and (-7/3, -1/3, 8/3): r = 5 / (sqrt(2) * sqrt(114) / 3)
    assert out["corr"] == pytest.approx(15 / math.sqrt(228))
    assert out["mae"] == pytest.approx((1 + 2 + 4) / 3)


@pytest.mark.parametrize("pred, target", [([1.0, 1.0, 1.0], [0.0, 1.0, 2.0]), ([0.0, 1.0], [2.0, 2.0]), ([1.0], [2.0])])
def test_mosi_corr_is_zero_when_a_side_is_constant(pred, target) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConstantInputWarning / RuntimeWarning either
        out = mt.mosi_metrics(pred, target)
    assert out["corr"] == 0.0


@pytest.mark.parametrize(
    "pred, target, match",
    [
        ([1.0, 2.0], [1.0], "pred and target must have the same length, got 2 and 1"),
        ([], [], "pred.*empty"),
        ([1.0, 2.0], [1.0, float("nan")], "target.*NaN"),
        ([float("nan")], [1.0], "pred.*NaN"),
        ([float("inf")], [1.0], "pred.*infinite"),
        (["a"], [1.0], "pred.*numbers"),
    ],
)
def test_mosi_errors(pred, target, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mt.mosi_metrics(pred, target)
