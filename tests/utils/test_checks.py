"""The shared argument and value checks."""

from __future__ import annotations

import pytest
import torch

from mmgraph.utils.checks import (FEATURE_LIMIT, check_dense, check_features, check_positive_float,
                                  check_positive_int, check_probability)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3", None])
def test_positive_int_refuses(value) -> None:
    with pytest.raises(ValueError, match="hidden: expected a positive int"):
        check_positive_int(value, "hidden")


def test_positive_int_bound() -> None:
    assert check_positive_int(7, "n", maximum=7) == 7
    with pytest.raises(ValueError, match="n: expected at most 7"):
        check_positive_int(8, "n", maximum=7)


@pytest.mark.parametrize("value", [0, -1e-3, float("nan"), float("inf"), "0.1", True])
def test_positive_float_refuses(value) -> None:
    with pytest.raises(ValueError, match="lr:.*finite.*number.*>.*0"):
        check_positive_float(value, "lr")


@pytest.mark.parametrize("value", [1.0, -0.1, float("nan"), "0.5"])
def test_probability_refuses(value) -> None:
    with pytest.raises(ValueError, match="dropout: expected a probability"):
        check_probability(value, "dropout")


def test_dense_refuses_sparse_and_meta() -> None:
    with pytest.raises(ValueError, match="x: expected a dense tensor.*sparse"):
        check_dense(torch.eye(3).to_sparse(), "x")
    with pytest.raises(ValueError, match="x: expected a tensor with data.*meta"):
        check_dense(torch.empty(2, device="meta"), "x")


@pytest.mark.parametrize("bad, words", [(float("nan"), "1 NaN/Inf entry"), (float("-inf"), "1 NaN/Inf entry"),
                                        (2 * FEATURE_LIMIT, "expected values within")])
def test_features_refuses_non_finite_and_huge(bad: float, words: str) -> None:
    x = torch.zeros(3, 2)
    x[1, 1] = bad
    with pytest.raises(ValueError, match=f"modality 'a': x: .*{words}"):
        check_features(x, "modality 'a': x")
    assert check_features(torch.full((2,), FEATURE_LIMIT), "x") is not None
