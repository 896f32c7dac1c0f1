from __future__ import annotations

import pytest
import torch

from mmgraph.retrieval import GalleryIndex


def test_query_returns_nearest_ids_best_first() -> None:
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]])
    index = GalleryIndex(gallery * torch.tensor([[3.0], [1.0], [2.0], [5.0]]), ids=["a", "b", "c", "d"])  # scale is ignored
    scores, ids = index.query(torch.tensor([[1.0, 0.1], [0.0, -1.0]]), k=3)
    assert ids[0] == ["a", "c", "b"]
    torch.testing.assert_close(scores[0, 0], torch.nn.functional.cosine_similarity(torch.tensor([1.0, 0.1]), gallery[0], dim=0))
    assert (scores[:, :-1] >= scores[:, 1:]).all()


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_batching_changes_nothing(batch_size: int) -> None:
    torch.manual_seed(0)
    gallery, queries = torch.randn(50, 6), torch.randn(17, 6)
    ref = GalleryIndex(gallery, batch_size=1000)
    index = GalleryIndex(gallery, batch_size=batch_size)
    torch.testing.assert_close(index.scores(queries), ref.scores(queries))
    assert index.query(queries, k=5)[1] == ref.query(queries, k=5)[1]
    full = torch.nn.functional.normalize(queries, dim=-1) @ torch.nn.functional.normalize(gallery, dim=-1).T
    torch.testing.assert_close(index.scores(queries), full)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: GalleryIndex(torch.randn(0, 3)), r"embeddings: expected a non-empty \(num_items, dim\) tensor, got \(0, 3\)"),
        (lambda: GalleryIndex(torch.full((2, 3), float("nan"))), "embeddings: expected finite values"),
        (lambda: GalleryIndex(torch.randn(2, 3), ids=[1]), r"ids: expected one id per item \(2\), got 1"),
        (lambda: GalleryIndex(torch.randn(2, 3)).query(torch.randn(1, 4)), r"queries: expected a \(num_queries, 3\) tensor, got \(1, 4\)"),
        (lambda: GalleryIndex(torch.randn(2, 3)).query(torch.randn(1, 3), k=3), r"k: expected an int in \[1, 2\], got 3"),
    ],
)
def test_errors(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
