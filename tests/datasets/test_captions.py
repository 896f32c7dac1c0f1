"""Scene captions: true facts for hand-built scenes, varied wording, deterministic under a seed."""

from __future__ import annotations

import pytest

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
