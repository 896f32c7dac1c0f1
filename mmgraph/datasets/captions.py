"""Ground-truth captions of Sort-of-CLEVR scenes: objects and their relations, in varied wording."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from mmgraph.datasets.sort_of_clevr import COLORS, NUM_OBJECTS, SHAPES, SortOfCLEVR, _check_positions, _check_shapes

__all__ = ["Fact", "Caption", "RELATIONS", "scene_facts", "fact_text", "scene_captions", "caption_dataset"]

#: Relations a fact can state: ``subject <relation> object``.
RELATIONS = ("left_of", "right_of", "above", "below", "closest_to", "furthest_from")

# Several wordings per relation; the caption generator picks one at random.
_WORDING = {
    "left_of": ("is left of", "is to the left of"),
    "right_of": ("is right of", "is to the right of"),
    "above": ("is above", "is higher than"),
    "below": ("is below", "is lower than"),
    "closest_to": ("is the closest to", "is the nearest object to"),
    "furthest_from": ("is the furthest from", "is the farthest object from"),
}


@dataclass(frozen=True)
class Fact:
    """``subject <relation> object``, objects by index (object ``i`` has colour ``COLORS[i]``)."""

    relation: str
    subject: int
    object: int


@dataclass(frozen=True)
class Caption:
    """A caption and the facts it states (for exact-match scoring of relations)."""

    text: str
    facts: tuple[Fact, ...]


def scene_facts(shapes: Any, positions: Any) -> list[Fact]:
    """Every true fact about a scene, in a fixed order.

    - ``left_of``/``right_of``/``above``/``below`` for every ordered pair whose centres differ
      in that coordinate (``y`` grows downwards, as in image coordinates);
    - ``closest_to``/``furthest_from``: for every object ``X``, the object nearest to / furthest
      from it (ties go to the lowest colour index, as in the VQA answers).

    Args:
        shapes: Shape id of each of the 6 objects (``0`` square, ``1`` circle).
        positions: ``(6, 2)`` centres ``(x, y)``, in pixels or normalised (any common scale).
    """
    _check_shapes(shapes)
    pos = _check_positions(positions)
    facts: list[Fact] = []
    for i in range(NUM_OBJECTS):
        for j in range(NUM_OBJECTS):
            if i == j:
                continue
            if pos[i, 0] < pos[j, 0]:
                facts.append(Fact("left_of", i, j))
            if pos[i, 0] > pos[j, 0]:
                facts.append(Fact("right_of", i, j))
            if pos[i, 1] < pos[j, 1]:
                facts.append(Fact("above", i, j))
            if pos[i, 1] > pos[j, 1]:
                facts.append(Fact("below", i, j))
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
    for x in range(NUM_OBJECTS):
        others = np.where(np.arange(NUM_OBJECTS) == x, np.inf, d2[x])
        facts.append(Fact("closest_to", int(np.argmin(others)), x))
        others = np.where(np.arange(NUM_OBJECTS) == x, -np.inf, d2[x])
        facts.append(Fact("furthest_from", int(np.argmax(others)), x))
    return facts


def _name(shapes: np.ndarray, i: int) -> str:
    return f"{COLORS[i]} {SHAPES[int(shapes[i])]}"


def fact_text(fact: Fact, shapes: Any, wording: int = 0) -> str:
    """The English sentence of ``fact``, e.g. ``"the red circle is left of the blue square"``.

    Args:
        fact: The fact.
        shapes: The scene's shape ids (to name the objects).
        wording: Which of the relation's wordings (``0`` or ``1``).
    """
    s = _check_shapes(shapes)
    if fact.relation not in _WORDING:
        raise ValueError(f"fact.relation: expected one of {list(RELATIONS)}, got {fact.relation!r}")
    variants = _WORDING[fact.relation]
    if isinstance(wording, bool) or not isinstance(wording, int) or not 0 <= wording < len(variants):
        raise ValueError(f"wording: expected an index in [0, {len(variants)}), got {wording!r}")
    return f"the {_name(s, fact.subject)} {variants[wording]} the {_name(s, fact.object)}"


def scene_captions(
    shapes: Any,
    positions: Any,
    num_captions: int = 5,
    facts_per_caption: int = 2,
    seed: Union[int, np.random.Generator] = 0,
) -> list[Caption]:
    """``num_captions`` captions of one scene, each stating ``facts_per_caption`` true facts.

    Each caption joins distinct facts with ``"; "`` (e.g. ``"the red circle is left of the blue
    square; the green square is the furthest from the gray circle"``), one relation a
    closest/furthest fact whenever possible, so captions need relations to be told apart.
    Facts and wordings are drawn with ``seed``: the same seed gives the same captions.
    """
    for name, value, low in (("num_captions", num_captions, 1), ("facts_per_caption", facts_per_caption, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    s = _check_shapes(shapes)
    facts = scene_facts(s, positions)
    extreme = [f for f in facts if f.relation in ("closest_to", "furthest_from")]
    spatial = [f for f in facts if f.relation not in ("closest_to", "furthest_from")]
    out = []
    for _ in range(num_captions):
        chosen = [extreme[rng.integers(len(extreme))]]
        pool = [f for f in spatial + extreme if f != chosen[0]]
        extra = rng.choice(len(pool), size=min(facts_per_caption - 1, len(pool)), replace=False)
        chosen += [pool[int(k)] for k in extra]
        order = rng.permutation(len(chosen))
        chosen = [chosen[int(k)] for k in order]
        text = "; ".join(fact_text(f, s, int(rng.integers(2))) for f in chosen)
        out.append(Caption(text, tuple(chosen)))
    return out


def caption_dataset(data: SortOfCLEVR, num_captions: int = 5, facts_per_caption: int = 2, seed: int = 0) -> list[list[Caption]]:
    """Captions of every image of a :class:`~mmgraph.datasets.SortOfCLEVR` dataset (deterministic under ``seed``)."""
    if not isinstance(data, SortOfCLEVR):
        raise ValueError(f"data: expected a SortOfCLEVR dataset, got {type(data).__name__}")
    rng = np.random.default_rng(seed)
    shapes = data.states[:, :, len(COLORS) : len(COLORS) + len(SHAPES)].argmax(-1).numpy()
    positions = data.positions.numpy()
    return [scene_captions(shapes[i], positions[i], num_captions, facts_per_caption, rng) for i in range(len(data))]
