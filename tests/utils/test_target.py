"""Sample targets: numbers become tensors; strings, non-numbers and NaN are refused at construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmgraph as mg
from mmgraph.utils.target import as_target


@pytest.mark.parametrize(
    ("y", "expected"),
    [(3, torch.tensor(3)), ([0.5, -1.0], torch.tensor([0.5, -1.0])), (np.array([1, 2]), torch.tensor([1, 2])),
     (torch.tensor(2.0), torch.tensor(2.0)), (None, None)],
)
def test_numbers_become_tensors(y, expected) -> None:
    got = as_target(y)
    assert got is None if expected is None else got.equal(expected)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        ("cat", r"y: expected a number, .* got str 'cat'; map class names to class indices"),
        ([float("nan")], r"y: expected finite values, got \[nan\]"),
        (torch.tensor([1.0, float("inf")]), r"y: expected finite values, got \[1.0, inf\]"),
        ({"label": 1}, r"y: expected a number, .* got dict"),
        ([[1], [2, 3]], r"y: expected a number, .* got list"),
        (np.array(["a"]), r"y: expected a number, .* got ndarray"),
        (object(), r"y: expected a number, .* got object"),
    ],
)
def test_a_sample_refuses_a_target_that_is_not_a_number(y, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mg.MultimodalSample(text=torch.randn(2, 3), y=y)


def test_a_sample_keeps_its_target_through_to_and_without() -> None:
    s = mg.MultimodalSample(text=torch.randn(2, 3), image=torch.randn(1, 2), y=[1.5, 2.0])
    assert s.to(torch.float64).y.equal(s.y) and s.without("image").y.equal(s.y)
