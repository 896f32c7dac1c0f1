"""rerank: the top-k re-ordered by the second stage, everything else after them in the first stage's order."""

from __future__ import annotations

import pytest
import torch

from mmgraph.retrieval import rerank, retrieval_metrics


def test_top_k_reordered_rest_keeps_first_stage_order() -> None:
    scores = torch.tensor([[0.9, 0.8, 0.1, 0.5], [0.1, 0.2, 0.3, 0.4]])
    calls = []

    def second(q: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        calls.append((q.tolist(), i.tolist()))
        return (i == 1).float() + ((q == 1) & (i == 2)).float()

    out = rerank(scores, 2, second, batch_size=3)
    assert out[0].argsort(descending=True).tolist() == [1, 0, 3, 2]
    assert out[1].argsort(descending=True).tolist() == [2, 3, 1, 0]
    assert sum(len(q) for q, _ in calls) == 4 and len(calls) == 2  # only the top-2 of each query, in batches of 3


def test_rerank_improves_recall_when_the_second_stage_knows() -> None:
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(50, 50, generator=g)
    truth = torch.arange(50)
    scores[truth, truth] = scores.topk(3, dim=1).values[:, -1]  # relevant item third best
    oracle = rerank(scores, 5, lambda q, i: (q == i).float())
    assert retrieval_metrics(scores, truth)["r1"] == 0.0
    assert retrieval_metrics(oracle, truth)["r1"] == 1.0
    assert retrieval_metrics(rerank(scores, 1, lambda q, i: (q == i).float()), truth)["r1"] == 0.0


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"k:.*int.*\[1.*2\]"):
        rerank(torch.rand(2, 2), 3, lambda q, i: q.float())
    with pytest.raises(ValueError, match="one score per pair"):
        rerank(torch.rand(2, 2), 2, lambda q, i: torch.zeros(1))
    with pytest.raises(ValueError, match="scores: expected a non-empty"):
        rerank(torch.rand(3), 1, lambda q, i: q.float())
