"""Scene captions: true facts for hand-built scenes, varied wording, deterministic under a seed."""

from __future__ import annotations

import pytest
import torch

from mmgraph.data.modality import Modality

from mmgraph.datasets.captions import Fact, caption_dataset, fact_text, scene_captions, scene_facts
from mmgraph.datasets.sort_of_clevr import sort_of_clevr_splits

# red, green, blue, orange, gray, yellow
SHAPES = [0, 1, 0, 1, 0, 1]
POSITIONS = [[10, 10], [60, 10], [10, 60], [60, 60], [35, 35], [70, 35]]


def test_facts_of_a_hand_built_scene() -> None:
    facts = set(scene_facts(SHAPES, POSITIONS))
    assert Fact("left_of", 0, 1) in facts and Fact("right_of", 1, 0) in facts
    assert Fact("above", 0, 2) in facts and Fact("below", 2, 0) in facts
    assert Fact("left_of", 0, 2) not in facts and Fact("right_of", 0, 2) not in facts  # same x
    assert Fact("closest_to", 4, 0) in facts  # gray (35.4 px away) is nearer to red than green/blue (50 px)
    assert Fact("furthest_from", 3, 0) in facts  # orange (70.7 px) beats yellow (65.8 px)
    assert sum(f.relation == "closest_to" for f in facts) == 6 == sum(f.relation == "furthest_from" for f in facts)


def test_fact_text_names_colours_and_shapes() -> None:
    assert fact_text(Fact("left_of", 0, 1), SHAPES) == "the red square is left of the green circle"
    assert fact_text(Fact("furthest_from", 3, 0), SHAPES, wording=1) == \
        "the orange circle is the farthest object from the red square"


def test_captions_state_true_facts_in_varied_wording() -> None:
    caps = scene_captions(SHAPES, POSITIONS, num_captions=20, facts_per_caption=2, seed=3)
    truth = set(scene_facts(SHAPES, POSITIONS))
    texts = set()
    for cap in caps:
        assert len(cap.facts) == 2 and len(set(cap.facts)) == 2 and set(cap.facts) <= truth
        assert any(f.relation in ("closest_to", "furthest_from") for f in cap.facts)
        options = [[fact_text(f, SHAPES, w) for w in (0, 1)] for f in cap.facts]
        parts = cap.text.split("; ")
        assert all(p in o for p, o in zip(parts, options))
        texts.add(cap.text)
    assert len(texts) > 10  # varied
    assert any("is to the left of" in t or "is higher than" in t or "nearest object" in t for t in texts)


def test_deterministic_under_a_seed() -> None:
    a = scene_captions(SHAPES, POSITIONS, seed=1)
    assert a == scene_captions(SHAPES, POSITIONS, seed=1) and a != scene_captions(SHAPES, POSITIONS, seed=2)
    data = sort_of_clevr_splits(1, 1, 4)["test"]
    first, again = caption_dataset(data, seed=0), caption_dataset(data, seed=0)
    assert first == again and len(first) == 4 and all(len(c) == 5 for c in first)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: scene_captions(SHAPES, POSITIONS, num_captions=0), "num_captions: expected an int >= 1, got 0"),
        (lambda: scene_facts(SHAPES[:5], POSITIONS), "shapes: expected 6 shape ids"),
        (lambda: scene_facts(SHAPES, POSITIONS[:5]), r"positions: expected shape \(6, 2\)"),
        (lambda: fact_text(Fact("inside", 0, 1), SHAPES), "fact.relation: expected one of"),
        (lambda: fact_text(Fact("above", 0, 1), SHAPES, wording=2), r"wording: expected an index in \[0, 2\), got 2"),
        (lambda: caption_dataset([1, 2]), "data: expected a SortOfCLEVR dataset, got list"),
    ],
)
def test_errors(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------- tokens, parsing, negatives

from mmgraph.datasets.captions import (  # noqa: E402
    BOS, CAPTION_VOCAB, EOS, SceneCaptions, caption_is_true, caption_text, caption_tokens, corrupt_caption,
    parse_caption,
)


def test_tokens_round_trip_and_unknown_word() -> None:
    text = "the red square is left of the green circle; the blue square is the nearest object to the red square"
    ids = caption_tokens(text)
    assert CAPTION_VOCAB[ids[0]] == "the" and CAPTION_VOCAB.index(";") in ids
    assert caption_text(ids) == text
    assert caption_text([CAPTION_VOCAB.index(BOS), *ids, CAPTION_VOCAB.index(EOS), 5, 6]) == text  # stops at eos
    with pytest.raises(ValueError, match="word.*'purple'.*caption.*vocabulary"):
        caption_tokens("the purple square")
    with pytest.raises(ValueError, match="token ids in"):
        caption_text([len(CAPTION_VOCAB)])


def test_parse_and_truth_of_a_hand_built_scene() -> None:
    true = "the red square is left of the green circle; the gray square is the closest to the red square"
    assert parse_caption(true) == [("left_of", (0, 0), (1, 1)), ("closest_to", (4, 0), (0, 0))]
    assert caption_is_true(true, SHAPES, POSITIONS)
    assert not caption_is_true("the red circle is left of the green circle", SHAPES, POSITIONS)  # wrong shape
    assert not caption_is_true("the green circle is left of the red square", SHAPES, POSITIONS)  # wrong relation
    assert not caption_is_true("the orange circle is the closest to the red square", SHAPES, POSITIONS)
    assert not caption_is_true("the red square is left of the red square", SHAPES, POSITIONS)
    for bad in ("", "the red square", "the red square is next to the green circle", "red square is left of the green circle"):
        assert parse_caption(bad) is None and not caption_is_true(bad, SHAPES, POSITIONS)


@pytest.mark.parametrize("seed", range(5))
def test_corrupted_caption_differs_in_one_statement_and_is_false(seed: int) -> None:
    for cap in scene_captions(SHAPES, POSITIONS, num_captions=4, facts_per_caption=3, seed=seed):
        negative = corrupt_caption(cap, SHAPES, POSITIONS, seed=seed)
        assert caption_is_true(cap.text, SHAPES, POSITIONS) and not caption_is_true(negative, SHAPES, POSITIONS)
        changed = [a != b for a, b in zip(cap.text.split("; "), negative.split("; "))]
        assert sum(changed) == 1 and len(caption_tokens(negative)) == len(caption_tokens(cap.text))
    assert corrupt_caption(cap, SHAPES, POSITIONS, seed=1) == corrupt_caption(cap, SHAPES, POSITIONS, seed=1)


def test_scene_captions_tensors_and_batches() -> None:
    data = SceneCaptions(sort_of_clevr_splits(1, 1, 3)["test"], num_captions=2, facts_per_caption=2, seed=0)
    assert data.tokens.shape == (3, 2, data.max_len) and data.text_dim == len(CAPTION_VOCAB) + data.max_len
    for i in range(3):
        for k in range(2):
            assert caption_text(data.tokens[i, k]) == data.captions[i][k].text
            assert caption_is_true(data.captions[i][k].text, *data.scene(i))
    batch = data.pair_batch([2, 0], data.tokens[[0, 1], 1], data.lengths[[0, 1], 1])
    assert batch.modalities == ["caption", "objects"]
    x = batch["caption"].x
    assert x.shape == (2, data.max_len, data.text_dim)
    assert (x[:, :, : len(CAPTION_VOCAB)].argmax(-1)[batch["caption"].mask] ==
            data.tokens[[0, 1], 1][batch["caption"].mask]).all()
    assert (x[~batch["caption"].mask] == 0).all()
    y = data.caption_targets([1], [0])
    assert y[0, 0] == CAPTION_VOCAB.index(BOS) and caption_text(y[0, 1:]) == data.captions[1][0].text
    assert y[0, int(data.lengths[1, 0]) + 1] == CAPTION_VOCAB.index(EOS)
    _, raw = data.image_modalities([1, 1, 0], "pixels")
    assert raw["image"].data.shape[0] == 2 and raw["image"].index.tolist() == [1, 1, 0]
    with pytest.raises(ValueError, match="max_len: expected >="):
        SceneCaptions(sort_of_clevr_splits(1, 1, 3)["test"], max_len=3)


class StubEncoder:
    """Stands in for MiniLMTokens: one 3-d row per word, the word's length and index."""

    dim = 3

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> list[Modality]:
        self.calls.append(list(texts))
        return [Modality(torch.tensor([[len(w), i, 1.0] for i, w in enumerate(t.split())])) for t in texts]


def test_text_encoder_features_are_cached_per_text() -> None:
    enc = StubEncoder()
    data = SceneCaptions(sort_of_clevr_splits(1, 1, 3)["test"], num_captions=2, facts_per_caption=1, seed=0,
                         max_len=14, text_encoder=enc)
    assert data.text_dim == 3 + 14
    data.embed_all()
    assert len(enc.calls) == 1 and len(enc.calls[0]) == len({c.text for caps in data.captions for c in caps})
    batch = data.pair_batch([0, 1], data.tokens[[0, 1], 0], data.lengths[[0, 1], 0])
    assert len(enc.calls) == 1  # served from the cache
    x, mask = batch["caption"].x, batch["caption"].mask
    words = data.captions[0][0].text.split()
    assert int(mask[0].sum()) == len(words)
    assert x[0, : len(words), 0].tolist() == [float(len(w)) for w in words]
    assert x[0, 2, 3 + 2] == 1.0  # position one-hot after the encoder's features
    with pytest.raises(ValueError, match="no text_encoder"):
        SceneCaptions(sort_of_clevr_splits(1, 1, 3)["test"]).embed(["x"])
