"""Clause splitting and clause-by-clause re-ranking (mmgraph.retrieval.clauses)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import mmgraph as mg
from mmgraph.data.batch import ModalityBatch, MultimodalBatch
from mmgraph.retrieval import ClauseReranker, split_clauses

T, F = True, False


def text_batch(labels: list[list[str]], pos: bool = False) -> ModalityBatch:
    """Element features ``[sample, index]``; ``pos`` (if asked) ``10 * sample + index``."""
    n = max(len(lab) for lab in labels)
    b = len(labels)
    x = torch.zeros(b, n, 2)
    mask = torch.zeros(b, n, dtype=torch.bool)
    for i, lab in enumerate(labels):
        x[i, : len(lab), 0] = i
        x[i, : len(lab), 1] = torch.arange(len(lab)).float()
        mask[i, : len(lab)] = True
    p = (10 * x[..., :1] + x[..., 1:]) if pos else None
    return ModalityBatch(x, mask=mask, pos=p, labels=labels, name="text")


def test_split_clauses_by_hand() -> None:
    text = text_batch([["a", "b", ";", "c"], [";", "d", ";", ";", "e", "f", ";"], ["g"]], pos=True)
    clauses, owner = split_clauses(text, ";")
    assert owner.tolist() == [0, 0, 1, 1, 2]  # empty clauses (leading, doubled, trailing) are dropped
    assert clauses.labels == [["a", "b"], ["c"], ["d"], ["e", "f"], ["g"]]
    assert clauses.mask.tolist() == [[T, T], [T, F], [T, F], [T, T], [T, F]]
    assert clauses.x[clauses.mask].tolist() == [[0, 0], [0, 1], [0, 3], [1, 1], [1, 4], [1, 5], [2, 0]]
    assert clauses.pos[clauses.mask].flatten().tolist() == [0, 1, 3, 11, 14, 15, 20]
    assert bool((clauses.x[~clauses.mask] == 0).all()) and clauses.time is None


def test_split_clauses_positions_and_gaps() -> None:
    x = torch.arange(1, 6).float().view(1, 5, 1)
    text = ModalityBatch(x, mask=torch.tensor([[T, F, T, T, T]]), labels=[["a", ";", "b", "c"]], name="text")
    clauses, owner = split_clauses(text, ";", positions=3)
    assert owner.tolist() == [0, 0] and clauses.labels == [["a"], ["b", "c"]]
    assert clauses.x.tolist() == [[[1, 1, 0, 0], [0, 0, 0, 0]], [[4, 1, 0, 0], [5, 0, 1, 0]]]


def test_split_clauses_sample_without_text() -> None:
    text = ModalityBatch(torch.ones(2, 2, 1), mask=torch.tensor([[T, T], [F, F]]), labels=[["a", "b"], None])
    clauses, owner = split_clauses(text)
    assert owner.tolist() == [0] and clauses.labels == [["a", "b"]]


@pytest.mark.parametrize("text, kwargs, match", [
    (ModalityBatch(torch.ones(1, 2, 1), name="caption"), {"name": "caption"},
     r"modality 'caption': clauses are split at elements labelled ';', but the modality has no labels"),
    (ModalityBatch(torch.ones(1, 2, 1), labels=[["a"]]), {},
     r"modality 'text': sample 0 has 2 elements but 1 labels"),
    (ModalityBatch(torch.ones(1, 2, 1), labels=[None]), {}, r"sample 0 has 2 elements but no labels"),
    (ModalityBatch(torch.ones(1, 2, 1), labels=[[";", ";"]]), {}, r"no sample has a non-empty clause"),
    (ModalityBatch(torch.ones(1, 3, 1), labels=[["a", "b", "c"]]), {"positions": 2},
     r"a clause of 3 elements, more than positions=2"),
    (ModalityBatch(torch.ones(1, 2, 1), labels=[["a", "b"]]), {"positions": -1},
     r"positions: expected a non-negative int, got -1"),
    (torch.ones(1, 2, 1), {}, r"modality 'text': expected a ModalityBatch, got Tensor"),
])
def test_split_clauses_errors(text: object, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        split_clauses(text, **kwargs)  # type: ignore[arg-type]


class SumScorer(nn.Module):
    """Match score of an (image, clause) pair: the sum of the clause's features (image ignored)."""

    def forward(self, batch: MultimodalBatch) -> Tensor:
        t = batch["text"]
        s = (t.x * t.mask.unsqueeze(-1)).sum((1, 2))
        return torch.stack([torch.zeros_like(s), s], -1)


def pair(labels: list[list[str]], values: list[list[float]]) -> MultimodalBatch:
    text = text_batch(labels)
    for i, v in enumerate(values):
        text.x[i, : len(v), 0], text.x[i, : len(v), 1] = torch.tensor(v), 0.0
    image = ModalityBatch(torch.zeros(len(labels), 1, 3), name="image")
    return MultimodalBatch({"image": image, "text": text})


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_clause_reranker_soft_minimum(tau: float) -> None:
    batch = pair([["a", ";", "b", "c"], ["d"], [";"]], [[2.0, 0.0, -1.0, 4.0], [-3.0], [0.0]])
    model = ClauseReranker(SumScorer(), text="text", positions=0, temperature=tau)
    scores, owner = model.clause_scores(batch)
    assert scores.tolist() == [2.0, 3.0, -3.0] and owner.tolist() == [0, 0, 1]
    out = model(batch)
    expected = -tau * torch.logsumexp(-torch.tensor([2.0, 3.0]) / tau, 0)
    torch.testing.assert_close(out[:, 0], torch.zeros(3))
    torch.testing.assert_close(out[:, 1], torch.stack([expected, torch.tensor(-3.0), torch.tensor(0.0)]))
    assert float(out[0, 1]) < 2.0  # below the minimum: one false clause is enough


def test_clause_reranker_gradients_reach_every_clause() -> None:
    batch = pair([["a", ";", "b"]], [[1.0, 0.0, 1.5]])
    batch["text"].x.requires_grad_(True)
    ClauseReranker(SumScorer(), text="text", positions=0)(batch)[:, 1].sum().backward()
    grad = batch["text"].x.grad[0, :, 0]
    weights = torch.softmax(-torch.tensor([1.0, 1.5]), 0)  # d softmin / d s_c: the lower clause weighs more
    torch.testing.assert_close(grad[[0, 2]], weights)
    assert float(grad[1]) == 0.0  # the separator is not part of any clause


@pytest.mark.parametrize("kwargs, match", [
    ({"separator": ""}, r"separator: expected a non-empty string, got ''"),
    ({"positions": 1.5}, r"positions: expected a non-negative int, got 1.5"),
    ({"temperature": 0}, r"temperature: expected a positive number, got 0"),
])
def test_clause_reranker_argument_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ClauseReranker(SumScorer(), **kwargs)


def test_clause_reranker_input_errors() -> None:
    model = ClauseReranker(SumScorer(), text="caption")
    with pytest.raises(ValueError, match=r"modality.*'caption':.*modalities.*\['image'.*'text'\]"):
        model(pair([["a"]], [[1.0]]))
    with pytest.raises(ValueError, match="expected a MultimodalBatch, got dict"):
        model({})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["rerank-graph", "rerank-attention"])
def test_registered_rerankers_score_by_clause(name: str) -> None:
    from mmgraph.datasets.captions import SceneCaptions
    from mmgraph.datasets.sort_of_clevr import sort_of_clevr_splits

    data = SceneCaptions(sort_of_clevr_splits(1, 1, 3, seed=3)["test"], num_captions=1, facts_per_caption=3, seed=0)
    mg.seed_everything(0)
    model = mg.get_model(name, in_dims={"objects": 10, "caption": data.text_dim}, hidden=16, clauses=True,
                         clause_positions=12).eval()
    assert isinstance(model, ClauseReranker) and model.positions == 12
    idx = torch.arange(3)
    batch = data.pair_batch(idx, data.tokens[:, 0], data.lengths[:, 0])
    scores, owner = model.clause_scores(batch)
    assert owner.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    torch.testing.assert_close(model(batch)[:, 1], -torch.logsumexp(-scores.view(3, 3), 1))
    with pytest.raises(ValueError, match=rf"{name}: clause_positions: expected a non-negative int, got -2"):
        mg.get_model(name, in_dims={"objects": 10, "caption": data.text_dim}, hidden=16, clauses=True,
                     clause_positions=-2)


class Recorder(nn.Module):
    """Uniform outputs over ``2 + vocab`` columns; keeps every batch it scores."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab, self.seen = vocab, []

    def forward(self, batch: MultimodalBatch) -> Tensor:
        self.seen.append(batch)
        return torch.zeros(batch.batch_size, 2 + self.vocab)


VOCAB = ["a", "b", "c", "d", "e"]


def test_masked_words_hide_one_maskable_word_per_matching_clause() -> None:
    batch = pair([["a", "b", ";", "c"], ["d", "e"]], [[1.0, 2.0, 0.0, 3.0], [4.0, 5.0]])
    batch.y = torch.tensor([1, 0])
    inner = Recorder(len(VOCAB))
    model = ClauseReranker(inner, text="text", positions=3, vocab=VOCAB, masked_words=0.5, maskable=["b", "c", "e"])
    torch.manual_seed(0)
    model.train()(batch)
    scored, masked = inner.seen
    assert scored.batch_size == 3 and masked.batch_size == 2  # clauses "a b" and "c" of the matching pair only
    text = masked["text"]
    assert text.labels == [["a", "b"], ["c"]]
    torch.testing.assert_close(text.x[0, :, :2], torch.tensor([[1.0, 0.0], [0.0, 0.0]]))  # "b" hidden, "a" kept
    torch.testing.assert_close(text.x[1, 0, :2], torch.zeros(2))
    torch.testing.assert_close(text.x[..., 2:], scored["text"].x[:2, :, 2:])  # clause positions kept
    torch.testing.assert_close(model.auxiliary_loss, 0.5 * torch.log(torch.tensor(5.0)))
    model.eval()(batch)
    assert model.auxiliary_loss is None and len(inner.seen) == 3


def test_masked_words_need_matching_pairs_with_maskable_words() -> None:
    model = ClauseReranker(Recorder(len(VOCAB)), text="text", positions=0, vocab=VOCAB, masked_words=1.0,
                           maskable=["e"]).train()
    batch = pair([["a", "b"], ["c"]], [[1.0, 1.0], [1.0]])
    batch.y = torch.tensor([1, 1])
    model(batch)
    assert model.auxiliary_loss is None  # no "e" to hide
    with pytest.raises(ValueError, match=r"masked words: expected one match label per pair in batch.y \(2\), "
                                         r"got shape \(2, 2\)"):
        model(MultimodalBatch(dict(batch.items()), y=torch.ones(2, 2, dtype=torch.long)))


@pytest.mark.parametrize("kwargs, match", [
    ({"masked_words": 1.0}, r"masked_words=1.0 needs vocab \(the words to predict\), got None"),
    ({"masked_words": -1.0, "vocab": VOCAB}, r"masked_words: expected a non-negative number, got -1.0"),
    ({"masked_words": 1.0, "vocab": VOCAB, "maskable": ["a", "z"]}, r"maskable: expected words of vocab, got \['z'\]"),
])
def test_masked_word_argument_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ClauseReranker(Recorder(5), text="text", **kwargs)


def test_inner_output_width_is_checked() -> None:
    model = ClauseReranker(Recorder(3), text="text", positions=0, vocab=VOCAB, masked_words=1.0)
    with pytest.raises(ValueError, match=r"inner: expected outputs of shape \(pairs, 7\) \(no match, match, one per vocab "
                                         r"word\), got \(1, 5\)"):
        model(pair([["a"]], [[1.0]]))


@pytest.mark.parametrize("name", ["rerank-graph", "rerank-attention"])
def test_registered_rerankers_masked_words(name: str) -> None:
    from mmgraph.datasets.captions import CAPTION_VOCAB, SceneCaptions
    from mmgraph.datasets.sort_of_clevr import sort_of_clevr_splits

    data = SceneCaptions(sort_of_clevr_splits(1, 1, 2, seed=3)["test"], num_captions=1, facts_per_caption=2, seed=0)
    dims = {"objects": 10, "caption": data.text_dim}
    mg.seed_everything(0)
    model = mg.get_model(name, in_dims=dims, hidden=16, clauses=True, masked_words=0.3, vocab=CAPTION_VOCAB,
                         maskable=["red", "circle"])
    batch = data.pair_batch(torch.arange(2), data.tokens[:, 0], data.lengths[:, 0], y=torch.tensor([1, 1]))
    out = model.train()(batch)
    assert out.shape == (2, 2) and model.maskable == {"red", "circle"}
    assert model.auxiliary_loss is None or model.auxiliary_loss.requires_grad
    with pytest.raises(ValueError, match=rf"{name}: masked_words=0.3 needs clauses=True, got clauses=False"):
        mg.get_model(name, in_dims=dims, hidden=16, masked_words=0.3, vocab=CAPTION_VOCAB)
    with pytest.raises(ValueError, match=rf"{name}: masked_words=0.3 needs vocab"):
        mg.get_model(name, in_dims=dims, hidden=16, clauses=True, masked_words=0.3)
