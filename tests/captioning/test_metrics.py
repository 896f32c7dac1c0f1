"""Captioning metrics: BLEU-4 from NLTK, relation exact-match against the scene."""

from __future__ import annotations

import pytest

from mmgraph.captioning import bleu4, caption_metrics, relation_em
from mmgraph.datasets.captions import caption_is_true

SHAPES = [0, 1, 0, 1, 0, 1]
POSITIONS = [[10, 10], [60, 10], [10, 60], [60, 60], [35, 35], [70, 35]]
TRUE = "the red square is left of the green circle; the gray square is the closest to the red square"
FALSE = "the green circle is left of the red square; the gray square is the closest to the red square"


def test_bleu4() -> None:
    assert bleu4([TRUE], [[TRUE]]) == pytest.approx(1.0)
    assert bleu4([TRUE], [[FALSE, TRUE]]) == pytest.approx(1.0)  # any reference
    partial = bleu4([FALSE], [[TRUE]])
    assert 0.3 < partial < 1.0
    assert bleu4(["the"], [[TRUE]]) < 0.01
    with pytest.raises(ValueError, match="one.*non-empty.*list.*references.*hypothesis"):
        bleu4([TRUE, TRUE], [[TRUE]])


def test_relation_em_counts_captions_whose_every_statement_holds() -> None:
    scene = (SHAPES, POSITIONS)
    def holds(text: str, scene: tuple) -> bool:
        return caption_is_true(text, *scene)

    assert relation_em([TRUE, FALSE, "gibberish", TRUE], [scene] * 4, holds) == 0.5
    assert caption_metrics([TRUE], [[TRUE]], [scene], holds) == {"bleu4": pytest.approx(1.0), "relation_em": 1.0}
    with pytest.raises(ValueError, match="one scene per caption"):
        relation_em([TRUE], [], holds)
