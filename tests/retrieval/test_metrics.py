from __future__ import annotations

import pytest
import torch

from mmgraph.retrieval import retrieval_metrics


def test_recall_and_mean_rank_by_hand() -> None:
    scores = torch.tensor([
        [0.9, 0.1, 0.0, 0.2],  # target 0: rank 1
        [0.5, 0.4, 0.3, 0.2],  # target 2: rank 3
        [0.1, 0.2, 0.3, 0.4],  # target 1: rank 3
    ])
    out = retrieval_metrics(scores, torch.tensor([0, 2, 1]), ks=(1, 2, 3), prefix="i2t_")
    assert out == pytest.approx({"i2t_r1": 1 / 3, "i2t_r2": 1 / 3, "i2t_r3": 1.0, "i2t_mean_rank": 7 / 3})


def test_perfect_and_full_gallery() -> None:
    out = retrieval_metrics(torch.eye(5), torch.arange(5), ks=(1, 5))
    assert out == {"r1": 1.0, "r5": 1.0, "mean_rank": 1.0}


@pytest.mark.parametrize(
    ("scores", "targets", "match"),
    [
        (torch.randn(3), torch.arange(3), "scores: expected a non-empty"),
        (torch.randn(3, 4), torch.arange(2), r"targets: expected one relevant item per query \(3\), got 2"),
        (torch.randn(3, 4), torch.tensor([0, 1, 4]), r"targets: expected item indices in \[0, 4\)"),
    ],
)
def test_errors(scores, targets, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        retrieval_metrics(scores, targets)


def test_k_beyond_the_gallery_is_full_recall_and_bad_k_is_an_error() -> None:
    assert retrieval_metrics(torch.rand(2, 3), torch.tensor([0, 2]), ks=(10,))["r10"] == 1.0
    with pytest.raises(ValueError, match="ks: expected positive ints, got 0"):
        retrieval_metrics(torch.rand(2, 3), torch.tensor([0, 2]), ks=(0,))


def test_a_gallery_of_two_items() -> None:
    scores = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.5, 0.5]])
    out = retrieval_metrics(scores, torch.tensor([0, 1, 1]), ks=(1, 5))
    assert out["r1"] == pytest.approx(2 / 3) and out["r5"] == 1.0 and out["mean_rank"] == pytest.approx(4 / 3)
