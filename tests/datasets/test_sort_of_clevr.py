"""Tests for mmgraph.datasets.sort_of_clevr: answers, rendering, questions, determinism, errors."""

from __future__ import annotations

import itertools
from dataclasses import fields

import numpy as np
import pytest
import torch

from mmgraph.datasets.sort_of_clevr import (
    ANSWERS,
    COLOR_RGB,
    COLORS,
    IMAGE_SIZE,
    MAX_QUESTION_LENGTH,
    OBJECT_SIZE,
    SHAPES,
    VOCAB,
    SortOfCLEVR,
    answer_question,
    decode_tokens,
    question_text,
    question_vector,
    render,
    sort_of_clevr_splits,
    tokenize,
)

SQ, CI = 0, 1  # shape ids
RED, GREEN, BLUE, ORANGE, GRAY, YELLOW = range(6)


def ans(name: str) -> int:
    return ANSWERS.index(name)


# A valid scene (pairwise centre distance >= 15, all centres in [5, 70]) with objects on
# the left/top boundaries: x = 37 is left (< 37.5), x = 38 is not; likewise for y.
SCENE_SHAPES = [SQ, CI, SQ, CI, CI, SQ]
SCENE_POS = [
    (10, 10),  # red square
    (37, 10),  # green circle: left boundary (yes)
    (38, 38),  # blue square: just right of / below the middle
    (60, 37),  # orange circle: top boundary (yes)
    (10, 70),  # gray circle
    (70, 70),  # yellow square
]

# Area of a circle of radius 5 drawn by the pixel-centre rule, counted by brute force.
CIRCLE_AREA = sum((a + 0.5) ** 2 + (b + 0.5) ** 2 <= OBJECT_SIZE**2 for a in range(-5, 5) for b in range(-5, 5))
SQUARE_AREA = (2 * OBJECT_SIZE) ** 2


@pytest.fixture(scope="module")
def small() -> SortOfCLEVR:
    return SortOfCLEVR.generate(6, seed=123)


@pytest.fixture(scope="module")
def medium() -> SortOfCLEVR:
    return SortOfCLEVR.generate(200, seed=7)


def centres_px(data: SortOfCLEVR) -> np.ndarray:
    return np.rint(data.positions.numpy().astype(np.float64) * IMAGE_SIZE).astype(np.int64)


def decode_question(bits: torch.Tensor) -> tuple[int, bool, int]:
    return int(bits[:6].argmax()), bool(bits[7] == 1), int(bits[8:].argmax())


# --------------------------------------------------------------------------------------
# Answers on hand-built scenes
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "color, subtype, expected",
    [
        (RED, 0, "square"),
        (GREEN, 0, "circle"),
        (YELLOW, 0, "square"),
        (RED, 1, "yes"),
        (GREEN, 1, "yes"),  # x = 37 < 37.5
        (BLUE, 1, "no"),  # x = 38
        (ORANGE, 1, "no"),
        (RED, 2, "yes"),
        (ORANGE, 2, "yes"),  # y = 37 < 37.5
        (BLUE, 2, "no"),  # y = 38
        (GRAY, 2, "no"),
    ],
)
def test_non_relational_answers(color, subtype, expected):
    assert ANSWERS[answer_question(SCENE_SHAPES, SCENE_POS, color, False, subtype)] == expected


@pytest.mark.parametrize(
    "color, subtype, expected",
    [
        (RED, 0, "circle"),  # closest to red is green (red itself, a square, is excluded)
        (YELLOW, 0, "circle"),  # closest to yellow is orange
        (BLUE, 0, "circle"),  # closest to blue (38, 38) is orange (60, 37)
        (RED, 1, "square"),  # furthest from red is yellow
        (GREEN, 1, "square"),  # furthest from green is yellow (4689 vs gray 4329)
        (GRAY, 1, "circle"),  # furthest from gray is green (4329 vs orange 3589, red/yellow 3600)
        (YELLOW, 1, "square"),  # furthest from yellow is red
        (RED, 2, "3"),
        (GREEN, 2, "3"),
    ],
)
def test_relational_answers(color, subtype, expected):
    assert ANSWERS[answer_question(SCENE_SHAPES, SCENE_POS, color, True, subtype)] == expected


@pytest.mark.parametrize(
    "shapes, color, expected",
    [
        ([SQ] * 6, RED, "6"),
        ([CI] * 6, YELLOW, "6"),
        ([SQ, SQ, SQ, CI, SQ, SQ], ORANGE, "1"),
        ([SQ, SQ, SQ, CI, SQ, SQ], RED, "5"),
        ([CI, SQ, CI, SQ, CI, CI], BLUE, "4"),
        ([CI, SQ, SQ, SQ, SQ, CI], GRAY, "4"),
        ([CI, SQ, SQ, SQ, SQ, CI], YELLOW, "2"),
    ],
)
def test_count_answers(shapes, color, expected):
    assert ANSWERS[answer_question(shapes, SCENE_POS, color, True, 2)] == expected


# Red in the middle; green and blue both at distance 20 (closest tie); gray and yellow both
# at squared distance 2048 (furthest tie); orange in between.
TIE_POS = [(37, 37), (17, 37), (57, 37), (37, 70), (5, 5), (69, 69)]


@pytest.mark.parametrize(
    "shapes, subtype, expected",
    [
        ([SQ, SQ, CI, SQ, CI, SQ], 0, "square"),  # closest tie green/blue -> green
        ([SQ, CI, SQ, SQ, CI, SQ], 0, "circle"),
        ([SQ, SQ, SQ, SQ, CI, SQ], 1, "circle"),  # furthest tie gray/yellow -> gray
        ([SQ, CI, CI, CI, SQ, CI], 1, "square"),
    ],
)
def test_ties_go_to_lowest_colour_index(shapes, subtype, expected):
    assert ANSWERS[answer_question(shapes, TIE_POS, RED, True, subtype)] == expected


def test_answer_question_accepts_colour_names_and_float_positions():
    pos = np.asarray(SCENE_POS, dtype=np.float64) + 0.25
    for color in range(6):
        for rel, sub in itertools.product((False, True), range(3)):
            assert answer_question(SCENE_SHAPES, pos, COLORS[color], rel, sub) == answer_question(
                SCENE_SHAPES, SCENE_POS, color, rel, sub
            )


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------
def test_render_pixels():
    img = render(SCENE_SHAPES, SCENE_POS)
    assert img.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and img.dtype == np.uint8
    covered = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    for k, ((cx, cy), shape) in enumerate(zip(SCENE_POS, SCENE_SHAPES)):
        rgb = COLOR_RGB[k]
        assert tuple(img[cy, cx]) == rgb
        assert tuple(img[cy, cx - 5]) == rgb and tuple(img[cy - 5, cx]) == rgb  # edge midpoints
        for row, col in [(cy - 5, cx - 5), (cy - 5, cx + 4), (cy + 4, cx - 5), (cy + 4, cx + 4)]:
            assert tuple(img[row, col]) == (rgb if shape == SQ else (0, 0, 0))
        assert not img[cy - 6, cx].any() and not img[cy, cx - 6].any()  # just outside the box
        assert cx + 5 == IMAGE_SIZE or not img[cy, cx + 5].any()
        covered[cy - 5 : cy + 5, cx - 5 : cx + 5] = True
    assert not img[~covered].any()  # background black


def test_render_areas_no_overlap():
    img = render(SCENE_SHAPES, SCENE_POS)
    assert CIRCLE_AREA == 80
    for k, shape in enumerate(SCENE_SHAPES):
        count = int((img == np.asarray(COLOR_RGB[k], dtype=np.uint8)).all(-1).sum())
        assert count == (SQUARE_AREA if shape == SQ else CIRCLE_AREA)
    assert int(img.any(-1).sum()) == sum(SQUARE_AREA if s == SQ else CIRCLE_AREA for s in SCENE_SHAPES)


def test_render_touches_image_border():
    pos = [(5, 5), (70, 5), (5, 70), (70, 70), (37, 37), (37, 5)]
    img = render([SQ] * 6, pos)
    assert tuple(img[0, 0]) == COLOR_RGB[0] and tuple(img[74, 74]) == COLOR_RGB[3]


def test_generated_images_match_render_and_do_not_overlap(small):
    centres = centres_px(small)
    shapes = small.states[..., 6:8].argmax(-1).numpy()
    for i in range(len(small)):
        img = small.images[i].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(img, render(shapes[i], centres[i]))
        for k in range(6):
            count = int((img == np.asarray(COLOR_RGB[k], dtype=np.uint8)).all(-1).sum())
            assert count == (SQUARE_AREA if shapes[i, k] == SQ else CIRCLE_AREA)


def test_generated_layout_rule(medium):
    c = centres_px(medium)
    assert c.min() >= OBJECT_SIZE and c.max() <= IMAGE_SIZE - OBJECT_SIZE
    d = np.sqrt(((c[:, :, None] - c[:, None]) ** 2).sum(-1)) + np.eye(6) * 1e9
    assert d.min() >= 3 * OBJECT_SIZE


# --------------------------------------------------------------------------------------
# Questions: bits, text, tokens
# --------------------------------------------------------------------------------------
KEY_PHRASE = {
    (False, 0): "what is the shape of the",
    (False, 1): "on the left ?",
    (False, 2): "on the top ?",
    (True, 0): "object closest to the",
    (True, 1): "object furthest from the",
    (True, 2): "how many objects have the same shape as",
}


@pytest.mark.parametrize("relational, subtype", list(itertools.product((False, True), range(3))))
def test_question_vector_and_text(relational, subtype):
    for color in range(6):
        v = question_vector(color, relational, subtype)
        assert v.shape == (11,)
        expected = np.zeros(11, dtype=np.float32)
        expected[color] = 1
        expected[7 if relational else 6] = 1
        expected[8 + subtype] = 1
        np.testing.assert_array_equal(v, expected)
        text = question_text(color, relational, subtype)
        assert f"the {COLORS[color]} object " in text and text.endswith(" ?")
        assert KEY_PHRASE[relational, subtype] in text
        assert sum(name in text.split() for name in COLORS) == 1
        ids = tokenize(text)
        assert 0 < len(ids) <= MAX_QUESTION_LENGTH and 0 not in ids
        assert decode_tokens(ids + [0] * 3) == text


@pytest.mark.parametrize(
    "args, text",
    [
        ((RED, False, 1), "is the red object on the left ?"),
        (("gray", True, 1), "what is the shape of the object furthest from the gray object ?"),
        ((BLUE, True, 2), "how many objects have the same shape as the blue object ?"),
        ((YELLOW, False, 0), "what is the shape of the yellow object ?"),
    ],
)
def test_question_text_examples(args, text):
    assert question_text(*args) == text


def test_all_question_texts_distinct():
    texts = {question_text(c, r, s) for c in range(6) for r in (False, True) for s in range(3)}
    assert len(texts) == 36
    assert VOCAB[0] == "<pad>" and len(set(VOCAB)) == len(VOCAB)
    assert MAX_QUESTION_LENGTH == max(len(t.split()) for t in texts)


def test_generated_questions_consistent(small):
    n, q = small.answers.shape
    assert small.question_tokens.shape == (n, q, MAX_QUESTION_LENGTH)
    centres = centres_px(small)
    shapes = small.states[..., 6:8].argmax(-1).numpy()
    for i in range(n):
        for j in range(q):
            bits = small.question_bits[i, j]
            assert bits.sum() == 3 and bits[:6].sum() == 1 and bits[6:8].sum() == 1 and bits[8:].sum() == 1
            color, rel, sub = decode_question(bits)
            assert rel == bool(small.relational[i, j]) == (j >= 10)
            tokens = small.question_tokens[i, j]
            length = int(small.question_lengths[i, j])
            assert (tokens[:length] != 0).all() and (tokens[length:] == 0).all()
            assert decode_tokens(tokens) == question_text(color, rel, sub)
            assert int(small.answers[i, j]) == answer_question(shapes[i], centres[i], color, rel, sub)


def test_states_match_positions_and_shapes(small):
    s = small.states
    assert s.shape == (len(small), 6, 10) and s.dtype == torch.float32
    assert torch.equal(s[..., :6], torch.eye(6).expand(len(small), 6, 6))
    assert torch.equal(s[..., 6:8].sum(-1), torch.ones(len(small), 6))
    assert torch.equal(s[..., 8:], small.positions)
    assert ((small.positions >= 0) & (small.positions <= 1)).all()
    # shape one-hot agrees with the pixels: a circle's box corner is black, a square's is not
    centres = centres_px(small)
    for i in range(len(small)):
        for k in range(6):
            cx, cy = centres[i, k]
            corner_lit = bool(small.images[i, :, cy - 5, cx - 5].any())
            assert corner_lit == (SHAPES[int(s[i, k, 6:8].argmax())] == "square")


def test_answer_distribution_covers_all_classes(medium):
    counts = torch.bincount(medium.answers.flatten(), minlength=len(ANSWERS))
    assert len(counts) == len(ANSWERS) and (counts > 0).all()
    rel = medium.relational
    assert set(medium.answers[~rel].unique().tolist()) == {0, 1, 2, 3}
    assert set(medium.answers[rel].unique().tolist()) == set(range(2, 10))


# --------------------------------------------------------------------------------------
# Dataset container, determinism, splits
# --------------------------------------------------------------------------------------
def test_shapes_dtypes_and_counts():
    d = SortOfCLEVR.generate(3, seed=1, questions_per_image=(2, 4))
    assert len(d) == 3 and d.questions_per_image == 6 and d.num_questions == 18
    assert d.images.shape == (3, 3, 75, 75) and d.images.dtype == torch.uint8
    assert d.positions.shape == (3, 6, 2) and d.question_bits.shape == (3, 6, 11)
    assert d.answers.dtype == torch.long and d.relational.dtype == torch.bool
    assert d.relational.tolist() == [[False] * 2 + [True] * 4] * 3
    only_rel = SortOfCLEVR.generate(2, seed=1, questions_per_image=(0, 3))
    assert only_rel.relational.all() and only_rel.question_bits[..., 7].eq(1).all()


def test_deterministic_and_seed_sensitive():
    a, b = SortOfCLEVR.generate(5, seed=42), SortOfCLEVR.generate(5, seed=42)
    for f in fields(SortOfCLEVR):
        assert torch.equal(getattr(a, f.name), getattr(b, f.name)), f.name
    c = SortOfCLEVR.generate(5, seed=43)
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(a.positions, c.positions)
    assert not torch.equal(a.answers, c.answers)


def test_subset(small):
    sub = small.subset([3, 0, -1])
    assert len(sub) == 3
    for f in fields(SortOfCLEVR):
        full = getattr(small, f.name)
        assert torch.equal(getattr(sub, f.name), full[[3, 0, len(small) - 1]]), f.name
    mask = torch.tensor([True, False] * 3)
    assert torch.equal(small.subset(mask).images, small.images[::2])
    assert len(small.subset([])) == 0


def test_splits_sizes_differ_and_reproduce():
    splits = sort_of_clevr_splits(train=4, val=3, test=2, seed=5)
    assert list(splits) == ["train", "val", "test"]
    assert [len(s) for s in splits.values()] == [4, 3, 2]
    # equal sizes, so equal seeds would give identical splits
    same_size = sort_of_clevr_splits(train=3, val=3, test=3, seed=5)
    for a, b in itertools.combinations(same_size.values(), 2):
        assert not torch.equal(a.images, b.images)
        assert not torch.equal(a.answers, b.answers)
    again = sort_of_clevr_splits(train=4, val=3, test=2, seed=5)
    assert all(torch.equal(splits[k].images, again[k].images) for k in splits)
    other = sort_of_clevr_splits(train=4, val=3, test=2, seed=6)
    assert not torch.equal(splits["train"].images, other["train"].images)


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_images": 0}, r"num_images: expected an int >= 1, got 0"),
        ({"num_images": -3}, r"num_images: .*got -3"),
        ({"num_images": 2.0}, r"num_images: expected an int.* got float"),
        ({"num_images": True}, r"num_images: expected an int.* got bool"),
        ({"seed": -1}, r"seed: expected a non-negative int, got -1"),
        ({"seed": 1.5}, r"seed: expected a non-negative int, got float"),
        ({"seed": "0"}, r"seed: .*got str"),
        ({"seed": None}, r"seed: .*got NoneType"),
        ({"questions_per_image": (-1, 10)}, r"questions_per_image\[0\].*got -1"),
        ({"questions_per_image": (10, -2)}, r"questions_per_image\[1\].*got -2"),
        ({"questions_per_image": (0, 0)}, r"questions_per_image: expected at least one"),
        ({"questions_per_image": (1, 2, 3)}, r"questions_per_image: expected a \(non_relational, relational\) pair"),
        ({"questions_per_image": 5}, r"questions_per_image: .*got 5"),
    ],
)
def test_generate_errors(kwargs, match):
    args = {"num_images": 2, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        SortOfCLEVR.generate(**args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"train": 0}, r"train: expected an int >= 1, got 0"),
        ({"val": -1}, r"val: .*got -1"),
        ({"test": 1.0}, r"test: expected an int.* got float"),
        ({"seed": -5}, r"seed: .*got -5"),
    ],
)
def test_split_errors(kwargs, match):
    args = {"train": 1, "val": 1, "test": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        sort_of_clevr_splits(**args)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: answer_question(SCENE_SHAPES, SCENE_POS, "purple", False, 0), r"color: .*got 'purple'"),
        (lambda: answer_question(SCENE_SHAPES, SCENE_POS, 6, False, 0), r"color: expected an int in \[0, 5\], got 6"),
        (lambda: answer_question(SCENE_SHAPES, SCENE_POS, 0, False, 3), r"subtype: .*got 3"),
        (lambda: answer_question(SCENE_SHAPES, SCENE_POS, 0, 1, 0), r"relational: expected a bool, got int"),
        (lambda: answer_question(SCENE_SHAPES[:5], SCENE_POS, 0, False, 0), r"shapes: expected 6 .*got shape \(5,\)"),
        (lambda: answer_question([0, 1, 2, 0, 1, 0], SCENE_POS, 0, False, 0), r"shapes: expected shape ids"),
        (lambda: answer_question(SCENE_SHAPES, SCENE_POS[:5], 0, False, 0), r"positions: expected shape \(6, 2\)"),
        (lambda: render(SCENE_SHAPES, [(4, 10)] + SCENE_POS[1:]), r"positions: expected coordinates in \[5, 70\]"),
        (lambda: render(SCENE_SHAPES, [(71, 10)] + SCENE_POS[1:]), r"positions: expected coordinates in \[5, 70\]"),
        (lambda: render(SCENE_SHAPES, [(10.5, 10)] + SCENE_POS[1:]), r"positions: expected integer pixel centres"),
        (lambda: question_text(0, True, -1), r"subtype: .*got -1"),
        (lambda: tokenize("is the pink object ?"), r"word 'pink' is not in"),
        (lambda: decode_tokens([1, 99]), r"ids: .*got 99"),
    ],
)
def test_function_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_subset_and_constructor_errors(small):
    with pytest.raises(ValueError, match=r"indices:.*\[-6.*5\].*0.*6"):
        small.subset([0, 6])
    with pytest.raises(ValueError, match=r"indices:.*boolean.*mask.*shape.*\(6,\)"):
        small.subset(torch.tensor([True, False]))
    with pytest.raises(ValueError, match=r"indices:.*1-D.*sequence.*ints"):
        small.subset([0.5])
    parts = {f.name: getattr(small, f.name) for f in fields(SortOfCLEVR)}
    with pytest.raises(ValueError, match=r"states: expected shape"):
        SortOfCLEVR(**{**parts, "states": parts["states"][:3]})
    with pytest.raises(ValueError, match=r"answers: expected dtype torch.int64"):
        SortOfCLEVR(**{**parts, "answers": parts["answers"].int()})


# ---------------------------------------------------------------- batches over state descriptions
def test_state_batch_matches_the_dataset() -> None:
    import mmgraph as mg
    from mmgraph.datasets.sort_of_clevr import VOCAB, SortOfCLEVR, decode_tokens, question_text

    data = SortOfCLEVR.generate(3, seed=4)
    q = data.questions_per_image
    idx = torch.tensor([0, q + 5, 2 * q + 19])
    batch = data.state_batch(idx)
    assert isinstance(batch, mg.MultimodalBatch) and batch.modalities == ["objects", "question"]
    assert torch.equal(batch.y, data.answers.reshape(-1)[idx])
    for row, (i, k) in enumerate([(0, 0), (1, 5), (2, 19)]):
        assert torch.equal(batch["objects"].x[row], data.states[i])
        assert torch.equal(batch["objects"].pos[row], data.positions[i])
        n = int(data.question_lengths[i, k])
        assert int(batch["question"].mask[row].sum()) == n
        ids = batch["question"].x[row, :n].argmax(-1)
        assert decode_tokens(ids) == decode_tokens(data.question_tokens[i, k])
        assert batch["question"].x[row, n:].abs().sum() == 0
    assert batch["question"].feature_dim == len(VOCAB)
    assert question_text  # imported name used by other tests


def test_state_batch_runs_through_a_graph_model() -> None:
    import mmgraph as mg
    from mmgraph.datasets.sort_of_clevr import ANSWERS, VOCAB, SortOfCLEVR

    data = SortOfCLEVR.generate(2, seed=0)
    builder = mg.GraphBuilder(
        intra={"objects": mg.edges.Full(attr="pos"), "question": mg.edges.Sequential(1)},
        cross={("question", "objects"): mg.edges.Full()},
        fusion_node=True,
    )
    model = mg.get_model("graph-relational", in_dims={"objects": 10, "question": len(VOCAB)}, hidden=16,
                         out_dim=len(ANSWERS), builder=builder)
    out = model(data.state_batch(torch.arange(8)))
    assert out.shape == (8, len(ANSWERS)) and torch.isfinite(out).all()


@pytest.mark.parametrize("bad, message", [([], "at least one"), ([-1], r"got min -1"), ([40], r"\[0, 39\], got min 40")])
def test_state_batch_errors(bad, message) -> None:
    from mmgraph.datasets.sort_of_clevr import SortOfCLEVR

    with pytest.raises(ValueError, match=message):
        SortOfCLEVR.generate(2, seed=0).state_batch(bad)


def test_pixel_batch_shares_images() -> None:
    import mmgraph as mg
    from mmgraph.datasets.sort_of_clevr import SortOfCLEVR

    data = SortOfCLEVR.generate(3, seed=4)
    q = data.questions_per_image
    idx = torch.tensor([2 * q + 1, 0, 3, 2 * q + 7])
    batch = data.pixel_batch(idx)
    raw = batch.raw["image"]
    assert raw.data.shape == (2, 3, 75, 75) and raw.data.dtype == torch.uint8  # 2 distinct images
    for row, image in enumerate([2, 0, 0, 2]):
        assert torch.equal(raw.data[raw.index[row]], data.images[image])
    assert torch.equal(batch.y, data.answers.reshape(-1)[idx])
    assert torch.equal(batch["question"].x, data.state_batch(idx)["question"].x)
    cnn = mg.nn.GridCNN().eval()
    regions = cnn(raw)
    assert regions.x.shape == (4, 25, 26)
