r"""A procedural, deterministic Sort-of-CLEVR generator (Santoro et al., 2017).

Sort-of-CLEVR is the toy visual question answering task from *"A simple neural network
module for relational reasoning"* (Santoro et al., NeurIPS 2017). Each image is a
:math:`75 \times 75` RGB picture on a black background holding six objects, one of each
colour in :data:`COLORS`, each a filled square or a filled circle. Every image comes with
non-relational questions (about one object) and relational questions (about how one object
relates to the others); all answers are one of the ten classes in :data:`ANSWERS`.

Geometry
    Object centres are integer pixel-corner coordinates ``(x, y)`` with ``x`` growing to the
    right and ``y`` growing *downwards*. An object with centre ``(cx, cy)`` lives in the
    :math:`10 \times 10` pixel box of rows ``cy - 5 .. cy + 4`` and columns ``cx - 5 .. cx + 4``
    (:data:`OBJECT_SIZE` = 5 is the half-size). A square fills the whole box; a circle fills
    the pixels whose *centres* ``(col + 0.5, row + 0.5)`` lie within distance 5 of ``(cx, cy)``.
    The pixel at ``(row, col) = (cy, cx)`` is therefore always coloured.

Placement rule
    Centres are drawn uniformly from ``{5, ..., 70}^2`` (so every object lies fully inside the
    image) and a whole scene is rejected and redrawn unless every pair of centres is at
    Euclidean distance :math:`\ge 3 \cdot` :data:`OBJECT_SIZE` = 15. Two boxes that overlap
    have centres closer than :math:`10\sqrt{2} \approx 14.1`, so objects never share a pixel.
    Whole-scene rejection makes the layout uniform over all valid layouts.

Questions
    ========  ========  ================================================================  ===========
    type      subtype   text                                                              answers
    ========  ========  ================================================================  ===========
    non-rel.  0         what is the shape of the X object ?                               square/circle
    non-rel.  1         is the X object on the left ?  (yes iff ``cx < 75 / 2``)           yes/no
    non-rel.  2         is the X object on the top ?   (yes iff ``cy < 75 / 2``)           yes/no
    rel.      0         what is the shape of the object closest to the X object ?          square/circle
    rel.      1         what is the shape of the object furthest from the X object ?       square/circle
    rel.      2         how many objects have the same shape as the X object ?             1 .. 6
    ========  ========  ================================================================  ===========

    Distances are Euclidean between centres, excluding ``X`` itself. **Ties** (two other
    objects equally close / far) go to the object whose colour comes first in :data:`COLORS`.
    The count in relational subtype 2 includes ``X`` itself, so it is in ``1 .. 6``.

    The paper's 11-bit question encoding (:func:`question_vector`) is: bits 0-5 one-hot
    colour, bit 6 set for a non-relational question, bit 7 set for a relational one, bits
    8-10 one-hot subtype. The same question as English is tokenised over :data:`VOCAB`
    (index 0 is ``"<pad>"``) and padded to :data:`MAX_QUESTION_LENGTH` tokens.

Example:
    >>> from mmgraph.datasets.sort_of_clevr import SortOfCLEVR
    >>> data = SortOfCLEVR.generate(4, seed=0)
    >>> data.images.shape, data.answers.shape
    (torch.Size([4, 3, 75, 75]), torch.Size([4, 20]))
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Iterable, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from mmgraph.utils.checks import check_int, is_int

if TYPE_CHECKING:
    from mmgraph.data.batch import ModalityBatch, MultimodalBatch

__all__ = [
    "IMAGE_SIZE",
    "OBJECT_SIZE",
    "NUM_OBJECTS",
    "MIN_CENTER_DISTANCE",
    "COLORS",
    "COLOR_RGB",
    "SHAPES",
    "ANSWERS",
    "VOCAB",
    "MAX_QUESTION_LENGTH",
    "QUESTION_DIM",
    "STATE_DIM",
    "SortOfCLEVR",
    "sort_of_clevr_splits",
    "answer_question",
    "render",
    "question_text",
    "question_vector",
    "tokenize",
    "decode_tokens",
]

IMAGE_SIZE: int = 75
"""Image height and width in pixels."""

OBJECT_SIZE: int = 5
"""Half-size of an object in pixels: squares are 10x10, circles have radius 5."""

NUM_OBJECTS: int = 6
"""Objects per image (one per colour)."""

MIN_CENTER_DISTANCE: float = 3.0 * OBJECT_SIZE
"""Smallest Euclidean distance between two object centres (guarantees no pixel overlap)."""

COLORS: tuple[str, ...] = ("red", "green", "blue", "orange", "gray", "yellow")
"""Colour names; object ``i`` of every image has colour ``COLORS[i]``."""

COLOR_RGB: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 156, 0),
    (128, 128, 128),
    (255, 255, 0),
)
"""RGB value of each colour in :data:`COLORS`, in the same order."""

SHAPES: tuple[str, ...] = ("square", "circle")
"""Shape names; shape ids index this tuple."""

ANSWERS: tuple[str, ...] = ("yes", "no", "square", "circle", "1", "2", "3", "4", "5", "6")
"""The ten answer classes; answer ids index this tuple."""

_YES, _NO, _SQUARE, _COUNT_1 = 0, 1, 2, 4

_TEMPLATES: tuple[tuple[str, ...], tuple[str, ...]] = (
    (  # non-relational
        "what is the shape of the {} object ?",
        "is the {} object on the left ?",
        "is the {} object on the top ?",
    ),
    (  # relational
        "what is the shape of the object closest to the {} object ?",
        "what is the shape of the object furthest from the {} object ?",
        "how many objects have the same shape as the {} object ?",
    ),
)

VOCAB: tuple[str, ...] = (
    "<pad>",
    *COLORS,
    "what", "is", "the", "shape", "of", "object", "closest", "to", "furthest", "from",
    "on", "left", "top", "how", "many", "objects", "have", "same", "as", "?",
)  # fmt: skip
"""Question vocabulary; index 0 is the padding token ``"<pad>"``."""

_WORD_ID: dict[str, int] = {w: i for i, w in enumerate(VOCAB)}

MAX_QUESTION_LENGTH: int = max(len(t.format(c).split()) for ts in _TEMPLATES for t in ts for c in COLORS)
"""Length (in tokens) every tokenised question is padded to."""

QUESTION_DIM: int = NUM_OBJECTS + 2 + 3
"""Width of the paper's question encoding (11)."""

STATE_DIM: int = NUM_OBJECTS + len(SHAPES) + 2
"""Width of a per-object state description (10)."""

_CIRCLE_MASK: np.ndarray = (
    ((np.arange(2 * OBJECT_SIZE) - OBJECT_SIZE + 0.5)[:, None] ** 2
     + (np.arange(2 * OBJECT_SIZE) - OBJECT_SIZE + 0.5)[None, :] ** 2)
    <= OBJECT_SIZE**2
)  # fmt: skip
_SHAPE_MASKS: np.ndarray = np.stack([np.ones_like(_CIRCLE_MASK), _CIRCLE_MASK])  # (2, 10, 10) bool
_RGB: np.ndarray = np.asarray(COLOR_RGB, dtype=np.uint8)  # (6, 3)
_LO, _HI = OBJECT_SIZE, IMAGE_SIZE - OBJECT_SIZE  # valid centre coordinates: _LO .. _HI inclusive

IntLike = Union[int, np.integer]
ColorLike = Union[int, np.integer, str]


# --------------------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------------------
def _check_seed(seed: Any, name: str = "seed") -> int:
    if not is_int(seed):
        raise ValueError(f"{name}: expected a non-negative int, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{name}: expected a non-negative int, got {int(seed)}")
    return int(seed)


def _color_index(color: Any) -> int:
    if isinstance(color, str):
        if color not in COLORS:
            raise ValueError(f"color: expected one of {list(COLORS)} or an index 0..5, got {color!r}")
        return COLORS.index(color)
    return check_int(color, "color", 0, NUM_OBJECTS - 1)


def _check_question(color: Any, relational: Any, subtype: Any) -> tuple[int, bool, int]:
    c = _color_index(color)
    if not isinstance(relational, (bool, np.bool_)):
        raise ValueError(f"relational: expected a bool, got {type(relational).__name__} {relational!r}")
    s = check_int(subtype, "subtype", 0, 2)
    return c, bool(relational), s


def _check_shapes(shapes: Any) -> np.ndarray:
    arr = np.asarray(shapes)
    if arr.shape != (NUM_OBJECTS,):
        raise ValueError(f"shapes: expected {NUM_OBJECTS} shape ids (one per colour), got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer) or not np.isin(arr, (0, 1)).all():
        raise ValueError(f"shapes: expected shape ids in {{0: 'square', 1: 'circle'}}, got {arr.tolist()}")
    return arr.astype(np.int64)


def _check_positions(positions: Any) -> np.ndarray:
    try:
        arr = np.asarray(positions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"positions: expected a ({NUM_OBJECTS}, 2) array of pixel centres, got {positions!r}") from exc
    if arr.shape != (NUM_OBJECTS, 2):
        raise ValueError(f"positions: expected shape ({NUM_OBJECTS}, 2) (x, y pixel centres), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("positions: expected finite values, got NaN/Inf")
    return arr


# --------------------------------------------------------------------------------------
# Questions: text, tokens, bit vectors
# --------------------------------------------------------------------------------------
def question_text(color: ColorLike, relational: bool, subtype: int) -> str:
    """The English question about colour ``color`` of the given type and subtype.

    Args:
        color: Colour index into :data:`COLORS` (``0 .. 5``) or colour name.
        relational: ``True`` for a relational question, ``False`` for a non-relational one.
        subtype: Question subtype ``0 .. 2`` (see the module docstring's table).

    Returns:
        The question as space-separated lowercase tokens, ending in ``" ?"``, e.g.
        ``"is the red object on the left ?"``.

    Raises:
        ValueError: for an unknown colour, a non-bool ``relational`` or a subtype outside 0..2.
    """
    c, rel, s = _check_question(color, relational, subtype)
    return _TEMPLATES[int(rel)][s].format(COLORS[c])


def question_vector(color: ColorLike, relational: bool, subtype: int) -> np.ndarray:
    """The paper's 11-bit encoding of a question.

    Args:
        color: Colour index into :data:`COLORS` (``0 .. 5``) or colour name.
        relational: ``True`` for a relational question, ``False`` for a non-relational one.
        subtype: Question subtype ``0 .. 2``.

    Returns:
        A ``float32`` array of shape ``(11,)``: bits 0-5 one-hot colour, bit 6 non-relational,
        bit 7 relational, bits 8-10 one-hot subtype.
    """
    c, rel, s = _check_question(color, relational, subtype)
    return _question_bits(np.array([c]), np.array([rel]), np.array([s]))[0]


def tokenize(text: str) -> list[int]:
    """Token ids (indices into :data:`VOCAB`) of a whitespace-separated question, unpadded.

    Args:
        text: A question such as :func:`question_text` returns.

    Returns:
        One id per whitespace-separated word.

    Raises:
        ValueError: for a word that is not in :data:`VOCAB` (``"<pad>"`` included).
    """
    if not isinstance(text, str):
        raise ValueError(f"text: expected a str, got {type(text).__name__}")
    ids = []
    for word in text.split():
        if word not in _WORD_ID or word == VOCAB[0]:
            raise ValueError(f"text: word {word!r} is not in the Sort-of-CLEVR vocabulary")
        ids.append(_WORD_ID[word])
    return ids


def decode_tokens(ids: Union[Sequence[int], np.ndarray, Tensor]) -> str:
    """The text of a (possibly padded) sequence of token ids; padding (id 0) is dropped.

    Args:
        ids: Token ids, e.g. one row of :attr:`SortOfCLEVR.question_tokens`.

    Returns:
        The words joined by single spaces.

    Raises:
        ValueError: for an id outside ``0 .. len(VOCAB) - 1``.
    """
    flat = ids.tolist() if isinstance(ids, (Tensor, np.ndarray)) else list(ids)
    words = []
    for i in flat:
        i = check_int(i, "ids", 0, len(VOCAB) - 1)
        if i != 0:
            words.append(VOCAB[i])
    return " ".join(words)


def _token_table() -> np.ndarray:
    """Padded token ids of every question, indexed ``[relational, subtype, color]``."""
    table = np.zeros((2, 3, NUM_OBJECTS, MAX_QUESTION_LENGTH), dtype=np.int64)
    for rel in (0, 1):
        for s in range(3):
            for c, name in enumerate(COLORS):
                ids = tokenize(_TEMPLATES[rel][s].format(name))
                table[rel, s, c, : len(ids)] = ids
    return table


_TOKENS: np.ndarray = _token_table()
_LENGTHS: np.ndarray = (_TOKENS != 0).sum(-1)


def _question_bits(colors: np.ndarray, relational: np.ndarray, subtypes: np.ndarray) -> np.ndarray:
    eye6, eye3 = np.eye(NUM_OBJECTS, dtype=np.float32), np.eye(3, dtype=np.float32)
    rel = relational.astype(np.float32)[..., None]
    return np.concatenate([eye6[colors], 1.0 - rel, rel, eye3[subtypes]], axis=-1)


# --------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------
def _answer_batch(
    shapes: np.ndarray, centers: np.ndarray, colors: np.ndarray, relational: np.ndarray, subtypes: np.ndarray
) -> np.ndarray:
    """Answers for ``(N, Q)`` questions about ``N`` scenes (shapes ``(N, 6)``, centres ``(N, 6, 2)``)."""
    n_idx = np.arange(shapes.shape[0])[:, None]
    own_shape = shapes[n_idx, colors]  # (N, Q)
    own_pos = centers[n_idx, colors]  # (N, Q, 2)
    half = IMAGE_SIZE / 2
    non_rel = np.select(
        [subtypes == 0, subtypes == 1],
        [_SQUARE + own_shape, np.where(own_pos[..., 0] < half, _YES, _NO)],
        np.where(own_pos[..., 1] < half, _YES, _NO),
    )
    d2 = ((centers[:, None, :, :] - own_pos[:, :, None, :]) ** 2).sum(-1)  # (N, Q, 6)
    is_self = np.arange(NUM_OBJECTS) == colors[..., None]
    closest = np.argmin(np.where(is_self, np.inf, d2), axis=-1)  # first (lowest colour) on ties
    furthest = np.argmax(np.where(is_self, -np.inf, d2), axis=-1)
    count = (shapes[:, None, :] == own_shape[..., None]).sum(-1)  # includes X itself: 1..6
    rel = np.select(
        [subtypes == 0, subtypes == 1],
        [_SQUARE + shapes[n_idx, closest], _SQUARE + shapes[n_idx, furthest]],
        _COUNT_1 - 1 + count,
    )
    return np.where(relational, rel, non_rel).astype(np.int64)


def answer_question(
    shapes: Union[Sequence[int], np.ndarray],
    positions: Union[Sequence[Sequence[float]], np.ndarray],
    color: ColorLike,
    relational: bool,
    subtype: int,
) -> int:
    """The answer id (index into :data:`ANSWERS`) of one question about one scene.

    Object ``i`` of the scene has colour ``COLORS[i]``. This is the same code
    :meth:`SortOfCLEVR.generate` uses, so it can check answers on hand-built scenes.

    Args:
        shapes: Shape id of each of the 6 objects (``0`` square, ``1`` circle).
        positions: ``(6, 2)`` object centres ``(x, y)`` in *pixels* (``y`` grows downwards).
        color: The colour ``X`` the question is about (index ``0 .. 5`` or name).
        relational: Whether the question is relational.
        subtype: Question subtype ``0 .. 2``.

    Returns:
        The answer id: ``0``/``1`` yes/no, ``2``/``3`` square/circle, ``4 .. 9`` counts 1..6.
        Left/top mean centre coordinate ``< 75 / 2``; closest/furthest ties go to the lowest
        colour index; the shape count includes ``X`` itself.

    Raises:
        ValueError: for malformed shapes, positions or question arguments.
    """
    s_arr = _check_shapes(shapes)
    p_arr = _check_positions(positions)
    c, rel, s = _check_question(color, relational, subtype)
    ans = _answer_batch(s_arr[None], p_arr[None], np.array([[c]]), np.array([[rel]]), np.array([[s]]))
    return int(ans[0, 0])


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------
def _render_batch(shapes: np.ndarray, centers: np.ndarray, out: np.ndarray) -> None:
    """Draw scenes into ``out`` (``(N, 3, 75, 75)`` C-contiguous uint8, assumed black); centres are ints."""
    n = shapes.shape[0]
    plane = IMAGE_SIZE * IMAGE_SIZE
    assert out.flags.c_contiguous, "_render_batch needs a C-contiguous output"
    flat = out.reshape(-1)  # a view, since ``out`` is contiguous
    offsets = np.arange(2 * OBJECT_SIZE) - OBJECT_SIZE
    # flat index of the top-left pixel of each object's box, then of every pixel of the box
    corner = np.arange(n)[:, None] * (3 * plane) + (centers[..., 1] - OBJECT_SIZE) * IMAGE_SIZE
    corner += centers[..., 0] - OBJECT_SIZE  # (N, 6)
    box = (offsets[:, None] + OBJECT_SIZE) * IMAGE_SIZE + offsets[None, :] + OBJECT_SIZE  # (10, 10)
    for k in range(NUM_OBJECTS):
        mask = _SHAPE_MASKS[shapes[:, k]]  # (N, 10, 10)
        lin = (corner[:, k, None, None] + box)[mask]
        for channel in range(3):
            flat[lin + channel * plane] = _RGB[k, channel]



def _render_all(shapes: np.ndarray, centers: np.ndarray, show_progress: bool, chunk: int = 2048) -> np.ndarray:
    """Render every image ``(N, 3, H, W)`` uint8, ``chunk`` images at a time (a ``tqdm`` bar with ``show_progress``)."""
    n = len(shapes)
    images = np.zeros((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    starts: Iterable[int] = range(0, n, chunk)
    if show_progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="rendering Sort-of-CLEVR", unit="chunk")
    for s in starts:
        _render_batch(shapes[s : s + chunk], centers[s : s + chunk], images[s : s + chunk])
    return images

def render(
    shapes: Union[Sequence[int], np.ndarray], positions: Union[Sequence[Sequence[int]], np.ndarray]
) -> np.ndarray:
    """Draw one scene.

    Args:
        shapes: Shape id of each of the 6 objects (``0`` square, ``1`` circle); object ``i``
            is drawn in ``COLOR_RGB[i]``.
        positions: ``(6, 2)`` integer object centres ``(x, y)`` in pixels, each coordinate in
            ``5 .. 70`` so the object lies inside the image. Overlap is not checked here;
            later objects are drawn over earlier ones.

    Returns:
        The image as a ``(75, 75, 3)`` ``uint8`` array (row = ``y``, column = ``x``) on a
        black background.

    Raises:
        ValueError: for malformed shapes, non-integer positions or positions out of range.
    """
    s_arr = _check_shapes(shapes)
    p_arr = _check_positions(positions)
    if not np.array_equal(p_arr, np.round(p_arr)):
        raise ValueError(f"positions: expected integer pixel centres, got {p_arr.tolist()}")
    if (p_arr < _LO).any() or (p_arr > _HI).any():
        raise ValueError(f"positions: expected coordinates in [{_LO}, {_HI}] so objects fit, got {p_arr.tolist()}")
    image = np.zeros((1, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    _render_batch(s_arr[None], p_arr.astype(np.int64)[None], image)
    return np.ascontiguousarray(image[0].transpose(1, 2, 0))


# --------------------------------------------------------------------------------------
# Scene layout
# --------------------------------------------------------------------------------------
def _place_objects(rng: np.random.Generator, num_images: int) -> np.ndarray:
    """Integer centres ``(N, 6, 2)`` in ``[5, 70]`` with pairwise distance >= 15 (whole-scene rejection)."""
    centers = np.empty((num_images, NUM_OBJECTS, 2), dtype=np.int64)
    pending = np.arange(num_images)
    min_d2 = MIN_CENTER_DISTANCE**2
    off_diag = ~np.eye(NUM_OBJECTS, dtype=bool)
    while pending.size:
        cand = rng.integers(_LO, _HI + 1, size=(pending.size, NUM_OBJECTS, 2))
        d2 = ((cand[:, :, None, :] - cand[:, None, :, :]) ** 2).sum(-1)
        ok = ((d2 >= min_d2) | ~off_diag).all(axis=(1, 2))
        centers[pending[ok]] = cand[ok]
        pending = pending[~ok]
    return centers


# --------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------
@dataclass
class SortOfCLEVR:
    r"""A generated Sort-of-CLEVR dataset: images, object states and questions with answers.

    Object ``k`` of every image has colour ``COLORS[k]``. Questions of an image are stored
    non-relational first, then relational (see :attr:`relational`).

    Attributes:
        images: ``uint8`` images, :math:`(N, 3, 75, 75)`, channels RGB.
        states: ``float32`` state descriptions, :math:`(N, 6, 10)`: colour one-hot (6),
            shape one-hot (square, circle), ``x / 75``, ``y / 75``.
        positions: ``float32`` object centres ``(x / 75, y / 75)`` in :math:`[0, 1]`, :math:`(N, 6, 2)`.
        question_bits: ``float32`` 11-bit question encodings, :math:`(N, Q, 11)`.
        question_tokens: ``int64`` token ids into :data:`VOCAB`, padded with 0 to
            :data:`MAX_QUESTION_LENGTH`, :math:`(N, Q, T)`.
        question_lengths: ``int64`` unpadded token counts, :math:`(N, Q)`.
        answers: ``int64`` answer ids into :data:`ANSWERS`, :math:`(N, Q)`.
        relational: ``bool`` whether each question is relational, :math:`(N, Q)`.
    """

    images: Tensor
    states: Tensor
    positions: Tensor
    question_bits: Tensor
    question_tokens: Tensor
    question_lengths: Tensor
    answers: Tensor
    relational: Tensor

    def __post_init__(self) -> None:
        n = self.images.shape[0] if isinstance(self.images, Tensor) and self.images.dim() == 4 else None
        q = self.answers.shape[1] if isinstance(self.answers, Tensor) and self.answers.dim() == 2 else None
        size = IMAGE_SIZE
        expected = {
            "images": ((n, 3, size, size), torch.uint8),
            "states": ((n, NUM_OBJECTS, STATE_DIM), None),
            "positions": ((n, NUM_OBJECTS, 2), None),
            "question_bits": ((n, q, QUESTION_DIM), None),
            "question_tokens": ((n, q, None), torch.long),
            "question_lengths": ((n, q), torch.long),
            "answers": ((n, q), torch.long),
            "relational": ((n, q), torch.bool),
        }
        for name, (shape, dtype) in expected.items():
            value = getattr(self, name)
            if not isinstance(value, Tensor):
                raise ValueError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
            ok = n is not None and q is not None and value.dim() == len(shape)
            ok = ok and all(w is None or w == g for w, g in zip(shape, value.shape))
            if not ok:
                want = tuple("N" if w is n and i == 0 else ("Q" if i == 1 and w is q else ("T" if w is None else w))
                             for i, w in enumerate(shape))  # fmt: skip
                raise ValueError(f"{name}: expected shape {want} consistent with the other fields, "
                                 f"got {tuple(value.shape)}")  # fmt: skip
            if dtype is not None and value.dtype != dtype:
                raise ValueError(f"{name}: expected dtype {dtype}, got {value.dtype}")

    def __len__(self) -> int:
        """Number of images."""
        return int(self.images.shape[0])

    @property
    def questions_per_image(self) -> int:
        """Questions per image, ``Q``."""
        return int(self.answers.shape[1])

    @property
    def num_questions(self) -> int:
        """Total number of questions, ``N * Q``."""
        return int(self.answers.numel())

    @classmethod
    def generate(
        cls,
        num_images: int,
        seed: int,
        questions_per_image: tuple[int, int] = (10, 10),
        show_progress: bool = False,
    ) -> "SortOfCLEVR":
        """Generate a dataset deterministically from ``seed``.

        The same ``(num_images, seed, questions_per_image)`` always gives identical tensors;
        all randomness comes from one ``numpy.random.Generator`` (PCG64) seeded with ``seed``.

        Args:
            num_images: Number of images ``N >= 1``.
            seed: Non-negative integer seed.
            questions_per_image: ``(non_relational, relational)`` questions per image, both
                ``>= 0`` and not both zero. Each question's colour and subtype are uniform.
            show_progress: Show a ``tqdm`` progress bar over rendering.

        Returns:
            The dataset.

        Raises:
            ValueError: for a bad ``num_images``, ``seed`` or ``questions_per_image``.
        """
        num_images = check_int(num_images, "num_images", low=1)
        seed = _check_seed(seed)
        if not isinstance(questions_per_image, (tuple, list)) or len(questions_per_image) != 2:
            raise ValueError(
                "questions_per_image: expected a (non_relational, relational) pair of ints, "
                f"got {questions_per_image!r}"
            )
        n_nonrel = check_int(questions_per_image[0], "questions_per_image[0] (non-relational)", low=0)
        n_rel = check_int(questions_per_image[1], "questions_per_image[1] (relational)", low=0)
        if n_nonrel + n_rel == 0:
            raise ValueError("questions_per_image: expected at least one question per image, got (0, 0)")

        rng = np.random.Generator(np.random.PCG64(seed))
        centers = _place_objects(rng, num_images)  # (N, 6, 2) int pixels
        shapes = rng.integers(0, len(SHAPES), size=(num_images, NUM_OBJECTS))
        q = n_nonrel + n_rel
        colors = rng.integers(0, NUM_OBJECTS, size=(num_images, q))
        subtypes = rng.integers(0, 3, size=(num_images, q))
        relational = np.broadcast_to(np.arange(q) >= n_nonrel, (num_images, q))

        answers = _answer_batch(shapes, centers.astype(np.float64), colors, relational, subtypes)
        rel_idx = relational.astype(np.int64)
        tokens = _TOKENS[rel_idx, subtypes, colors]  # (N, Q, T)
        lengths = _LENGTHS[rel_idx, subtypes, colors]
        bits = _question_bits(colors, relational, subtypes)

        positions = centers.astype(np.float32) / IMAGE_SIZE
        states = np.concatenate(
            [
                np.broadcast_to(np.eye(NUM_OBJECTS, dtype=np.float32), (num_images, NUM_OBJECTS, NUM_OBJECTS)),
                np.eye(len(SHAPES), dtype=np.float32)[shapes],
                positions,
            ],
            axis=-1,
        )

        return cls(
            images=torch.from_numpy(_render_all(shapes, centers, show_progress)),
            states=torch.from_numpy(np.ascontiguousarray(states)),
            positions=torch.from_numpy(positions),
            question_bits=torch.from_numpy(bits),
            question_tokens=torch.from_numpy(np.ascontiguousarray(tokens)),
            question_lengths=torch.from_numpy(np.ascontiguousarray(lengths)),
            answers=torch.from_numpy(answers),
            relational=torch.from_numpy(np.array(relational, dtype=bool, copy=True)),
        )

    def subset(self, indices: Union[Sequence[int], np.ndarray, Tensor]) -> "SortOfCLEVR":
        """The images at ``indices`` (with all their questions), in that order.

        Args:
            indices: Image indices (ints, negative allowed) or a boolean mask of length ``N``.

        Returns:
            A new :class:`SortOfCLEVR` whose tensors are copies.

        Raises:
            ValueError: for indices out of range, a mask of the wrong length, or non-integers.
        """
        idx = torch.as_tensor(np.asarray(indices) if not isinstance(indices, Tensor) else indices)
        n = len(self)
        if idx.dtype == torch.bool:
            if idx.shape != (n,):
                raise ValueError(f"indices: expected a boolean mask of shape ({n},), got {tuple(idx.shape)}")
            idx = idx.nonzero().flatten()
        elif idx.numel() == 0:
            idx = idx.to(torch.long).reshape(0)
        elif idx.is_floating_point() or idx.is_complex() or idx.dim() != 1:
            raise ValueError(
                f"indices: expected a 1-D sequence of ints, got dtype {idx.dtype} shape {tuple(idx.shape)}"
            )
        idx = idx.to(torch.long)
        if idx.numel() and (int(idx.min()) < -n or int(idx.max()) >= n):
            lo, hi = int(idx.min()), int(idx.max())
            raise ValueError(f"indices: expected values in [{-n}, {n - 1}], got min {lo} max {hi}")
        return SortOfCLEVR(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def _question_index(self, questions: Union[Sequence[int], Tensor]) -> Tensor:
        idx = torch.as_tensor(questions, dtype=torch.long).reshape(-1)
        if idx.numel() == 0:
            raise ValueError("questions: expected at least one question index, got none")
        if int(idx.min()) < 0 or int(idx.max()) >= self.num_questions:
            raise ValueError(
                f"questions: expected indices in [0, {self.num_questions - 1}], "
                f"got min {int(idx.min())} max {int(idx.max())}"
            )
        return idx

    def _question_modality(self, image: Tensor, k: Tensor) -> "ModalityBatch":
        from mmgraph.data.batch import ModalityBatch

        tokens = self.question_tokens[image, k]
        lengths = self.question_lengths[image, k]
        words = torch.nn.functional.one_hot(tokens, len(VOCAB)).to(torch.float32)
        mask = torch.arange(tokens.size(1)).unsqueeze(0) < lengths.unsqueeze(1)
        return ModalityBatch(words * mask.unsqueeze(-1), mask, name="question")

    def pixel_batch(self, questions: Union[Sequence[int], Tensor]) -> "MultimodalBatch":
        r"""A :class:`~mmgraph.MultimodalBatch` of questions over the images' pixels.

        ``"image"`` is a :class:`~mmgraph.RawModality` holding each distinct image of the
        batch once (``uint8``, :math:`(K, 3, 75, 75)`) and, per question, the index of its
        image, so an extractor such as :class:`~mmgraph.nn.GridCNN` encodes every image
        once however many of its questions the batch holds. ``"question"`` is as in
        :meth:`state_batch`; ``y`` holds the answer ids.

        Args:
            questions: Flat question indices in ``[0, num_questions)``.
        """
        from mmgraph.data.batch import MultimodalBatch
        from mmgraph.data.raw import RawModality

        idx = self._question_index(questions)
        image, k = idx // self.questions_per_image, idx % self.questions_per_image
        unique, inverse = torch.unique(image, return_inverse=True)
        raw = RawModality(self.images[unique], inverse, name="image")
        return MultimodalBatch({"question": self._question_modality(image, k)}, y=self.answers[image, k], raw={"image": raw})

    def state_batch(self, questions: Union[Sequence[int], Tensor]) -> "MultimodalBatch":
        r"""A :class:`~mmgraph.MultimodalBatch` of questions over state descriptions.

        Question ``k`` of image ``i`` has the flat index ``i * Q + k``. Modalities:

        - ``"objects"``: the 6 objects, ``x`` = state description (10), ``pos`` = centre in :math:`[0, 1]^2`;
        - ``"question"``: the question's tokens, ``x`` = one-hot over :data:`VOCAB`, masked to its length.

        ``y`` holds the answer ids. Built directly as padded tensors (no per-sample objects).

        Args:
            questions: Flat question indices in ``[0, num_questions)``.
        """
        from mmgraph.data.batch import ModalityBatch, MultimodalBatch

        idx = self._question_index(questions)
        q = self.questions_per_image
        image, k = idx // q, idx % q
        objects = ModalityBatch(self.states[image], pos=self.positions[image], name="objects")
        question = self._question_modality(image, k)
        return MultimodalBatch({"objects": objects, "question": question}, y=self.answers[image, k])


def sort_of_clevr_splits(
    train: int = 9800, val: int = 1000, test: int = 200, seed: int = 0, show_progress: bool = False
) -> dict[str, SortOfCLEVR]:
    """Generate train/val/test Sort-of-CLEVR splits, each from its own derived seed.

    Split ``i`` (train 0, val 1, test 2) uses the seed
    ``numpy.random.SeedSequence([seed, i]).generate_state(1)[0]``, so the splits are
    independent, differ from each other and are reproducible from ``seed``.

    Args:
        train: Number of training images (``>= 1``).
        val: Number of validation images (``>= 1``).
        test: Number of test images (``>= 1``).
        seed: Non-negative integer base seed.
        show_progress: Show progress bars while generating.

    Returns:
        ``{"train": ..., "val": ..., "test": ...}`` with 10 + 10 questions per image.

    Raises:
        ValueError: for a split size below 1 or a bad seed.
    """
    sizes = {"train": train, "val": val, "test": test}
    for name, size in sizes.items():
        check_int(size, name, low=1)
    seed = _check_seed(seed)
    out = {}
    for i, (name, size) in enumerate(sizes.items()):
        split_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        out[name] = SortOfCLEVR.generate(size, split_seed, show_progress=show_progress)
    return out
