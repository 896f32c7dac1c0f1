r"""A procedural, deterministic multimodal sentiment dataset shaped like CMU-MOSI.

Every sample is one spoken *utterance* with three unaligned, time-stamped modalities and a
sentiment score ``y`` in :math:`[-3, 3]` (shape ``(1,)``, ``float32``), like CMU-MOSI's
opinion-level annotations. The score can only be recovered by combining modalities and time:

``text``
    One element per token, from the vocabulary :data:`VOCAB` (40 words: :data:`NEUTRAL_WORDS`,
    :data:`POSITIVE_WORDS`, :data:`NEGATIVE_WORDS`, :data:`NEGATIONS` ``("not", "never")`` and
    :data:`INTENSIFIERS` ``("very", "extremely")``). Features are a fixed random embedding per
    word (:func:`word_embeddings`, drawn once from :data:`EMBEDDING_SEED`, independent of the
    data seed) plus small per-occurrence noise. ``time`` is the word's ``(start, end)`` span in
    seconds at a per-utterance speaking rate with per-word jitter and short pauses;
    ``labels`` are the words.
``face``
    A small grayscale face (:func:`render_face`, default :math:`24 \times 24`) is drawn per
    video frame (default 5 frames/s): the mouth curvature carries the facial valence (smile or
    frown), the brow angle carries valence too (inner ends lowered when negative), the mouth
    opens while a word is being spoken, plus pixel noise. With ``face_mode="patches"``
    (default) each frame is cut into a ``face_grid x face_grid`` grid of patches, and every
    patch is one element with the flattened pixels as features, ``pos`` = the patch centre
    ``(x, y)`` in ``[0, 1]`` and ``time`` = its frame's span; so a 5 s utterance has
    ``25 * 9 = 225`` face elements. With ``face_mode="frames"`` each frame is one element with
    the whole flattened image as features and no ``pos`` (9x fewer elements, for models that
    do not want spatial structure). Patches are the default because rendering is vectorised
    per utterance and the grid costs nothing measurable.
``audio``
    Frames at ``audio_fps`` (default 10/s) with features ``[pitch, energy, delta-pitch,
    delta-energy, noise...]`` (``4 + audio_noise_dims`` columns). Energy is high while a word is
    spoken, scaled by that word's latent *emphasis* :math:`e \in [0, 1]`, and low in pauses;
    pitch follows a per-utterance baseline and a slow intonation contour.

Each modality has its own rate and its own spans, so models must align them by ``time``.

Latent variables and the score
    For each utterance the generator draws a *mood* :math:`m \in \{-1, +1\}` and 1-3 sentiment
    *phrases*. Phrase :math:`k` has an intended sign :math:`s_k` (:math:`= m` with probability
    ``p_consistent``), is negated with probability ``p_negation`` (a negation word, optionally
    followed by one neutral filler, placed before it; the sentiment word then has polarity
    :math:`-s_k`, e.g. "not bad") and intensified with probability ``p_intensifier``
    (an intensifier directly before the sentiment word). Neutral fillers pad the utterance
    between phrases. Every token gets an emphasis :math:`e \sim U(0, 1)`, visible only as
    audio energy during the token.

    The rules read the *token sequence* (:func:`negation_flags`, :func:`intensifier_flags`):

    - a negation flips the polarity of the **next** sentiment word if that word is at most
      :data:`NEGATION_SCOPE` = 3 tokens after it (a sentiment word ends every negation's scope;
      a second negation before it replaces the first, so "not never good" flips once);
    - a sentiment word directly preceded by an intensifier is *intensified*.

    With word valence :math:`v_i` (:data:`VALENCE`), negation flag :math:`n_i`, intensifier
    flag :math:`a_i` and emphasis :math:`e_i` of sentiment word :math:`i`
    (:func:`score_from_latents`):

    .. math::

        c_i = v_i \,(-1)^{n_i}\,(1 + g\, a_i\, e_i), \qquad
        t = \lambda \sum_i c_i, \qquad
        r = \begin{cases} -t & \text{sarcastic} \\ t & \text{otherwise} \end{cases}

    with ``g = intensity_gain`` (default 1) and ``λ = score_scale`` (default 0.75). The
    clean score is :math:`\operatorname{clip}(r, -3, 3)` and the label is
    :math:`y = \operatorname{clip}(\operatorname{clip}(r, -3, 3) + \varepsilon, -3, 3)` with
    :math:`\varepsilon \sim \mathcal N(0, \texttt{label\_noise}^2)`.

    So energy matters only on *intensified sentiment* words (emphasis on other words is a
    distractor), negation only within its scope, and words alone can be misleading:

    - **Sarcasm** (probability ``p_sarcasm``): the utterance is built with positive mood and
      consistent phrases, so its words say positive (:math:`t > 0`), but it is spoken with low
      pitch, flat intonation and flat energy (all emphases are 0, so no intensification) and a
      negative face; the true score is :math:`-t < 0`.
    - **Face**: otherwise the facial valence shows the speaker's mood, weakly:
      :math:`0.35\, m + \mathcal N(0, 0.3^2)`; for sarcastic utterances it is drawn from
      :math:`U(-1, -0.5)`. The face is a cue, not a readout of the score: negations,
      inconsistent phrases and intensity are invisible in it, and a sarcastic face is only
      recognisable together with positive words (a negative mood often looks as negative).

Missing modalities
    ``drop_text``, ``drop_face`` and ``drop_audio`` drop a modality from a sample at random.
    Drop decisions use their own random stream, so changing them never changes the content
    of the modalities that remain. A sample never loses all of its modalities: if all are
    drawn as dropped, the one with the lowest drop probability is restored (ties: at random).

Example:
    >>> from mmgraph.datasets.sentiment import generate_sentiment
    >>> data, meta = generate_sentiment(2, seed=0, return_meta=True)
    >>> sorted(data[0].modalities), data[0].y.shape
    (['audio', 'face', 'text'], torch.Size([1]))
    >>> data[0]["text"].labels == meta[0]["words"]
    True
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, Optional, Sequence, Union, overload

import numpy as np
import torch

from mmgraph.data.modality import Modality
from mmgraph.data.sample import MultimodalSample
from mmgraph.utils.checks import check_int, is_int

__all__ = [
    "NEUTRAL_WORDS",
    "POSITIVE_WORDS",
    "NEGATIVE_WORDS",
    "NEGATIONS",
    "INTENSIFIERS",
    "VOCAB",
    "WORD_CATEGORIES",
    "VALENCE",
    "NEGATION_SCOPE",
    "EMBEDDING_SEED",
    "MODALITIES",
    "SentimentConfig",
    "word_embeddings",
    "negation_flags",
    "intensifier_flags",
    "score_from_latents",
    "score_utterance",
    "render_face",
    "generate_sentiment",
    "sentiment_splits",
]

# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------
#: Words with no sentiment (fillers).
NEUTRAL_WORDS: tuple[str, ...] = (
    "the", "movie", "film", "it", "was", "and", "this", "plot", "acting", "story",
    "i", "a", "scene", "ending", "just", "of",
)  # fmt: skip
#: Positive sentiment words (valences in :data:`VALENCE`).
POSITIVE_WORDS: tuple[str, ...] = (
    "good", "great", "excellent", "wonderful", "amazing", "love", "enjoyed", "fun", "beautiful", "nice",
)  # fmt: skip
#: Negative sentiment words (valences in :data:`VALENCE`).
NEGATIVE_WORDS: tuple[str, ...] = (
    "bad", "terrible", "awful", "boring", "hate", "horrible", "dull", "poor", "disappointing", "worst",
)  # fmt: skip
#: Negation words: flip the next sentiment word within :data:`NEGATION_SCOPE` tokens.
NEGATIONS: tuple[str, ...] = ("not", "never")
#: Intensifiers: a sentiment word right after one is scaled by its audio emphasis.
INTENSIFIERS: tuple[str, ...] = ("very", "extremely")
#: All 40 words; a word's index here is its row in :func:`word_embeddings`.
VOCAB: tuple[str, ...] = NEUTRAL_WORDS + POSITIVE_WORDS + NEGATIVE_WORDS + NEGATIONS + INTENSIFIERS
#: ``word -> category`` with categories ``neutral``, ``positive``, ``negative``, ``negation``, ``intensifier``.
WORD_CATEGORIES: dict[str, str] = {
    **{w: "neutral" for w in NEUTRAL_WORDS},
    **{w: "positive" for w in POSITIVE_WORDS},
    **{w: "negative" for w in NEGATIVE_WORDS},
    **{w: "negation" for w in NEGATIONS},
    **{w: "intensifier" for w in INTENSIFIERS},
}
_POS_VALENCE = (1.0, 1.5, 2.0, 1.5, 2.0, 1.5, 1.0, 1.0, 1.5, 0.75)
_NEG_VALENCE = (-1.0, -2.0, -2.0, -1.0, -1.5, -1.5, -0.75, -1.0, -1.5, -2.0)
#: Valence of every word (0 for everything but sentiment words).
VALENCE: dict[str, float] = {
    **{w: 0.0 for w in VOCAB},
    **dict(zip(POSITIVE_WORDS, _POS_VALENCE)),
    **dict(zip(NEGATIVE_WORDS, _NEG_VALENCE)),
}
#: A negation flips the next sentiment word if it is at most this many tokens later.
NEGATION_SCOPE: int = 3
#: Seed of the word-embedding table (fixed, independent of the data seed).
EMBEDDING_SEED: int = 20240917
#: Modality names of every sample (before dropping).
MODALITIES: tuple[str, ...] = ("text", "face", "audio")

_WORD_INDEX = {w: i for i, w in enumerate(VOCAB)}
_VALENCE_ARR = np.array([VALENCE[w] for w in VOCAB])
_IS_SENTIMENT = np.array([WORD_CATEGORIES[w] in ("positive", "negative") for w in VOCAB])
_NEUTRAL_IDS = np.array([_WORD_INDEX[w] for w in NEUTRAL_WORDS])
_POS_IDS = np.array([_WORD_INDEX[w] for w in POSITIVE_WORDS])
_NEG_IDS = np.array([_WORD_INDEX[w] for w in NEGATIVE_WORDS])
_NEGATION_IDS = np.array([_WORD_INDEX[w] for w in NEGATIONS])
_INTENSIFIER_IDS = np.array([_WORD_INDEX[w] for w in INTENSIFIERS])


# --------------------------------------------------------------------------------------
# Argument checking
# --------------------------------------------------------------------------------------
def _is_real(value: Any) -> bool:
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _check_seed(seed: Any, name: str = "seed") -> int:
    if not is_int(seed) or seed < 0:
        got = f"{type(seed).__name__} {seed!r}" if not is_int(seed) else str(int(seed))
        raise ValueError(f"{name}: expected a non-negative int, got {got}")
    return int(seed)


def _check_real(value: Any, name: str, low: float, high: float = math.inf, low_open: bool = False) -> float:
    if not _is_real(value) or not math.isfinite(float(value)):
        raise ValueError(f"{name}: expected a finite number, got {type(value).__name__} {value!r}")
    v = float(value)
    if (v <= low if low_open else v < low) or v > high:
        lo = "(" if low_open else "["
        hi = f"{high}]" if math.isfinite(high) else "inf)"
        raise ValueError(f"{name}: expected a number in {lo}{low}, {hi}, got {v}")
    return v


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SentimentConfig:
    """Sizes, rates, probabilities and noise levels of :func:`generate_sentiment`.

    Every field is checked on construction; a bad value raises a ``ValueError`` naming the
    field, the expected range and the value given.

    Attributes:
        min_tokens: Fewest tokens per utterance (grows to fit the sentiment phrases).
        max_tokens: Most tokens per utterance drawn (phrases may exceed it by a few).
        min_sentiment_words: Fewest sentiment phrases per utterance (``>= 1``).
        max_sentiment_words: Most sentiment phrases per utterance.
        text_dim: Dimension of the word embeddings.
        speaking_rate: Mean words per second.
        rate_jitter: Relative jitter of the per-utterance rate and of each word's duration, in ``[0, 0.9]``.
        video_fps: Face frames per second.
        audio_fps: Audio frames per second.
        face_size: Side of the rendered face in pixels (a multiple of ``face_grid``).
        face_grid: Patches per side in ``face_mode="patches"``.
        face_mode: ``"patches"`` (one element per patch, with ``pos``) or ``"frames"``
            (one element per frame, no ``pos``).
        audio_noise_dims: Number of pure-noise audio feature columns.
        p_negation: Probability that a sentiment phrase is negated.
        p_intensifier: Probability that a sentiment phrase is intensified.
        p_sarcasm: Probability that an utterance is sarcastic.
        p_consistent: Probability that a phrase's intended sign agrees with the utterance mood.
        intensity_gain: ``g`` in the score formula.
        score_scale: ``λ`` in the score formula.
        text_noise: Std of the per-occurrence noise added to word embeddings.
        face_noise: Std of the pixel noise.
        audio_noise: Std of the noise on pitch and energy.
        label_noise: Std of the noise added to the clipped score.
        drop_text: Probability that a sample's text is dropped.
        drop_face: Probability that a sample's face is dropped.
        drop_audio: Probability that a sample's audio is dropped.
    """

    min_tokens: int = 6
    max_tokens: int = 14
    min_sentiment_words: int = 1
    max_sentiment_words: int = 3
    text_dim: int = 32
    speaking_rate: float = 2.5
    rate_jitter: float = 0.25
    video_fps: float = 5.0
    audio_fps: float = 10.0
    face_size: int = 24
    face_grid: int = 3
    face_mode: str = "patches"
    audio_noise_dims: int = 3
    p_negation: float = 0.3
    p_intensifier: float = 0.3
    p_sarcasm: float = 0.15
    p_consistent: float = 0.8
    intensity_gain: float = 1.0
    score_scale: float = 0.75
    text_noise: float = 0.1
    face_noise: float = 0.1
    audio_noise: float = 0.05
    label_noise: float = 0.1
    drop_text: float = 0.0
    drop_face: float = 0.0
    drop_audio: float = 0.0

    def __post_init__(self) -> None:
        for name in ("min_tokens", "max_tokens", "min_sentiment_words", "max_sentiment_words", "text_dim"):
            check_int(getattr(self, name), name, low=1)
        check_int(self.face_size, "face_size", low=6)
        check_int(self.face_grid, "face_grid", low=1)
        check_int(self.audio_noise_dims, "audio_noise_dims", low=0)
        if self.max_tokens < self.min_tokens:
            raise ValueError(f"max_tokens: expected >= min_tokens ({self.min_tokens}), got {self.max_tokens}")
        if self.max_sentiment_words < self.min_sentiment_words:
            raise ValueError(
                f"max_sentiment_words: expected >= min_sentiment_words ({self.min_sentiment_words}), "
                f"got {self.max_sentiment_words}"
            )
        if self.face_size % self.face_grid:
            raise ValueError(
                f"face_size: expected a multiple of face_grid ({self.face_grid}), got {self.face_size}"
            )
        if self.face_mode not in ("patches", "frames"):
            raise ValueError(f"face_mode: expected 'patches' or 'frames', got {self.face_mode!r}")
        for name in ("speaking_rate", "video_fps", "audio_fps", "score_scale"):
            _check_real(getattr(self, name), name, 0.0, low_open=True)
        _check_real(self.rate_jitter, "rate_jitter", 0.0, 0.9)
        for name in ("intensity_gain", "text_noise", "face_noise", "audio_noise", "label_noise"):
            _check_real(getattr(self, name), name, 0.0)
        for name in ("p_negation", "p_intensifier", "p_sarcasm", "p_consistent", "drop_text", "drop_face", "drop_audio"):
            _check_real(getattr(self, name), name, 0.0, 1.0)

    @property
    def drop_probabilities(self) -> dict[str, float]:
        """``{"text": drop_text, "face": drop_face, "audio": drop_audio}``."""
        return {"text": self.drop_text, "face": self.drop_face, "audio": self.drop_audio}

    @property
    def face_dim(self) -> int:
        """Feature dimension of a face element."""
        side = self.face_size // self.face_grid if self.face_mode == "patches" else self.face_size
        return side * side

    @property
    def audio_dim(self) -> int:
        """Feature dimension of an audio frame."""
        return 4 + self.audio_noise_dims


def _config(config: Any) -> SentimentConfig:
    if config is None:
        return SentimentConfig()
    if not isinstance(config, SentimentConfig):
        raise ValueError(f"config: expected a SentimentConfig or None, got {type(config).__name__}")
    return config


# --------------------------------------------------------------------------------------
# Pure rules
# --------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _embedding_table(dim: int) -> np.ndarray:
    table = np.random.default_rng(EMBEDDING_SEED).standard_normal((len(VOCAB), dim))
    table.setflags(write=False)
    return table


def word_embeddings(dim: int = 32) -> torch.Tensor:
    """The fixed ``(len(VOCAB), dim)`` word-embedding table (seeded by :data:`EMBEDDING_SEED`)."""
    return torch.from_numpy(np.array(_embedding_table(check_int(dim, "dim", low=1)), dtype=np.float32))


def _word_ids(words: Sequence[str]) -> list[int]:
    if isinstance(words, str):
        raise ValueError(f"words: expected a sequence of words, got the str {words!r} (split it first)")
    ids = []
    for w in words:
        if w not in _WORD_INDEX:
            raise ValueError(f"words: expected words from VOCAB, got {w!r}")
        ids.append(_WORD_INDEX[w])
    return ids


def negation_flags(words: Sequence[str], scope: int = NEGATION_SCOPE) -> list[bool]:
    """Per token: whether it is a sentiment word flipped by a preceding negation.

    A negation flips the next sentiment word if that word is at most ``scope`` tokens after
    it. A sentiment word ends the scope of any pending negation; a later negation replaces
    an earlier pending one.

    Example:
        >>> negation_flags(["not", "very", "good", "fun"])
        [False, False, True, False]
        >>> negation_flags(["never", "the", "film", "was", "good"])  # "good" is 4 tokens later
        [False, False, False, False, False]
    """
    _word_ids(words)
    scope = check_int(scope, "scope", low=1)
    flags = [False] * len(words)
    pending: Optional[int] = None
    for i, w in enumerate(words):
        cat = WORD_CATEGORIES[w]
        if cat == "negation":
            pending = i
        elif cat in ("positive", "negative"):
            flags[i] = pending is not None and i - pending <= scope
            pending = None
    return flags


def intensifier_flags(words: Sequence[str]) -> list[bool]:
    """Per token: whether it is a sentiment word directly preceded by an intensifier."""
    _word_ids(words)
    return [
        WORD_CATEGORIES[w] in ("positive", "negative") and i > 0 and WORD_CATEGORIES[words[i - 1]] == "intensifier"
        for i, w in enumerate(words)
    ]


def score_from_latents(
    valences: Sequence[float],
    negated: Sequence[bool],
    intensified: Sequence[bool],
    emphasis: Sequence[float],
    sarcastic: bool = False,
    intensity_gain: float = 1.0,
    score_scale: float = 0.75,
) -> float:
    r"""The raw (unclipped) sentiment score of an utterance from its latent variables.

    .. math::
        r = \pm\,\lambda \sum_i v_i (-1)^{n_i} (1 + g\, a_i e_i)

    with the minus sign for sarcastic utterances. Clip the result to ``[-3, 3]`` for the
    clean score.

    Args:
        valences: Valence :math:`v_i` of each sentiment word.
        negated: Whether each word is negated (:math:`n_i`).
        intensified: Whether each word is intensified (:math:`a_i`).
        emphasis: Audio emphasis :math:`e_i \in [0, 1]` during each word.
        sarcastic: Whether the utterance is sarcastic (flips the sign).
        intensity_gain: :math:`g`.
        score_scale: :math:`\lambda`.

    Raises:
        ValueError: if the four sequences differ in length or hold bad values.
    """
    lengths = {"valences": len(valences), "negated": len(negated), "intensified": len(intensified), "emphasis": len(emphasis)}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"score_from_latents: expected sequences of one length, got lengths {lengths}")
    g = _check_real(intensity_gain, "intensity_gain", 0.0)
    lam = _check_real(score_scale, "score_scale", 0.0, low_open=True)
    v = np.asarray(valences, dtype=np.float64)
    e = np.asarray(emphasis, dtype=np.float64)
    if v.size and not np.isfinite(v).all():
        raise ValueError("valences: expected finite values")
    if e.size and (not np.isfinite(e).all() or e.min() < 0 or e.max() > 1):
        raise ValueError(f"emphasis: expected values in [0, 1], got {e.tolist()}")
    sign = np.where(np.asarray(negated, dtype=bool), -1.0, 1.0)
    mult = 1.0 + g * np.asarray(intensified, dtype=bool) * e
    t = lam * float(np.sum(v * sign * mult))
    return -t if sarcastic else t


def score_utterance(
    words: Sequence[str],
    emphasis: Optional[Sequence[float]] = None,
    sarcastic: bool = False,
    config: Optional[SentimentConfig] = None,
) -> float:
    """The raw score of a token sequence: applies the negation/intensifier rules, then :func:`score_from_latents`.

    Args:
        words: Tokens from :data:`VOCAB`.
        emphasis: Per-*token* audio emphasis in ``[0, 1]`` (default all 0).
        sarcastic: Whether the utterance is sarcastic.
        config: Supplies ``intensity_gain`` and ``score_scale`` (default :class:`SentimentConfig`).

    Example:
        >>> score_utterance(["good"]) == -score_utterance(["not", "good"])
        True
    """
    cfg = _config(config)
    ids = _word_ids(words)
    if emphasis is None:
        emphasis = [0.0] * len(ids)
    if len(emphasis) != len(ids):
        raise ValueError(f"emphasis: expected one value per word ({len(ids)}), got {len(emphasis)}")
    neg = negation_flags(words)
    inten = intensifier_flags(words)
    sel = [i for i in range(len(ids)) if _IS_SENTIMENT[ids[i]]]
    return score_from_latents(
        [_VALENCE_ARR[ids[i]] for i in sel],
        [neg[i] for i in sel],
        [inten[i] for i in sel],
        [emphasis[i] for i in sel],
        sarcastic=sarcastic,
        intensity_gain=cfg.intensity_gain,
        score_scale=cfg.score_scale,
    )


# --------------------------------------------------------------------------------------
# Face rendering
# --------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _face_canvas(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = (np.arange(size) + 0.5) / size
    yy, xx = np.meshgrid(c, c, indexing="ij")
    base = np.zeros((size, size))
    oval = ((xx - 0.5) / 0.40) ** 2 + ((yy - 0.52) / 0.46) ** 2 <= 1.0
    base[oval] = 0.6
    for ex in (0.35, 0.65):
        base[(xx - ex) ** 2 + (yy - 0.42) ** 2 <= 0.06**2] = 0.1
    base.setflags(write=False)
    return xx, yy, base


def _render_faces(valence: np.ndarray, mouth_open: np.ndarray, size: int) -> np.ndarray:
    """Vectorised renderer: ``(F,)`` valences and openness -> ``(F, size, size)`` images in ``[0, 1]``."""
    xx, yy, base = _face_canvas(size)
    v = valence[:, None, None]
    img = np.repeat(base[None], len(valence), axis=0)
    half = max(0.045, 0.6 / size)
    # Brows: inner ends lowered (frown) for negative valence.
    slope = -0.6 * v
    for cx, side in ((0.35, 1.0), (0.65, -1.0)):
        yb = 0.29 + side * slope * (xx - cx)
        on = (np.abs(xx - cx) <= 0.11) & (np.abs(yy - yb) <= half)
        img[on] = 0.1
    # Mouth: a parabola, corners up (smile) for positive valence.
    u = (xx - 0.5) / 0.17
    curv = 0.09 * v
    ym = 0.73 + curv * (1.0 - u**2) - curv / 2
    thick = half + 0.04 * mouth_open[:, None, None]
    on = (np.abs(u) <= 1.0) & (np.abs(yy - ym) <= thick)
    img[on] = 0.1
    return img


def render_face(valence: float, mouth_open: float = 0.0, size: int = 24) -> np.ndarray:
    """Render one noise-free face as a ``(size, size)`` float array in ``[0, 1]``.

    Args:
        valence: Facial valence, roughly in ``[-1, 1]``: positive smiles, negative frowns.
        mouth_open: Mouth openness in ``[0, 1]`` (1 while speaking).
        size: Side in pixels (``>= 6``).
    """
    v = _check_real(valence, "valence", -math.inf)
    o = _check_real(mouth_open, "mouth_open", 0.0, 1.0)
    size = check_int(size, "size", low=6)
    return _render_faces(np.array([v]), np.array([o]), size)[0]


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------
def _draw_words(rng: np.random.Generator, cfg: SentimentConfig, sarcastic: bool) -> tuple[list[int], int]:
    """Token ids of one utterance, and its mood."""
    mood = 1 if sarcastic or rng.random() < 0.5 else -1
    n_phr = int(rng.integers(cfg.min_sentiment_words, cfg.max_sentiment_words + 1))
    phrases: list[list[int]] = []
    for _ in range(n_phr):
        s = mood if (sarcastic or rng.random() < cfg.p_consistent) else -mood
        negated = rng.random() < cfg.p_negation
        intens = rng.random() < cfg.p_intensifier
        polarity = -s if negated else s
        phrase: list[int] = []
        if negated:
            phrase.append(int(rng.choice(_NEGATION_IDS)))
            if rng.random() < 0.4:  # "not (the) good", distance <= 3 with an intensifier
                phrase.append(int(rng.choice(_NEUTRAL_IDS)))
        if intens:
            phrase.append(int(rng.choice(_INTENSIFIER_IDS)))
        phrase.append(int(rng.choice(_POS_IDS if polarity > 0 else _NEG_IDS)))
        phrases.append(phrase)
    n_fixed = sum(len(p) for p in phrases)
    length = max(int(rng.integers(cfg.min_tokens, cfg.max_tokens + 1)), n_fixed)
    slots = np.bincount(rng.integers(0, n_phr + 1, size=length - n_fixed), minlength=n_phr + 1)
    ids: list[int] = []
    for k in range(n_phr + 1):
        ids.extend(int(i) for i in rng.choice(_NEUTRAL_IDS, size=int(slots[k])))
        if k < n_phr:
            ids.extend(phrases[k])
    return ids, mood


def _spans(n: int, rate: float, duration: float) -> np.ndarray:
    start = np.arange(n) / rate
    end = np.minimum(start + 1.0 / rate, duration)
    return np.stack([start, end], axis=1)


def _face(rng: np.random.Generator, cfg: SentimentConfig, sarcastic: bool, mood: float, duration: float,
          token_at: Any) -> tuple[Modality, float]:
    """The face modality (frames or patches) and its valence; draws from ``rng`` after the words and timing."""
    if sarcastic:
        face_valence = float(rng.uniform(-1.0, -0.5))
    else:
        face_valence = float(0.35 * mood + 0.3 * rng.standard_normal())
    n_v = max(1, math.ceil(duration * cfg.video_fps))
    v_time = _spans(n_v, cfg.video_fps, duration)
    v_tok = token_at(v_time.mean(axis=1))
    frame_val = face_valence + 0.1 * rng.standard_normal(n_v)
    imgs = _render_faces(frame_val, (v_tok >= 0).astype(float), cfg.face_size)
    imgs += cfg.face_noise * rng.standard_normal(imgs.shape)
    if cfg.face_mode == "patches":
        g = cfg.face_grid
        p = cfg.face_size // g
        face_x = imgs.reshape(n_v, g, p, g, p).transpose(0, 1, 3, 2, 4).reshape(n_v * g * g, p * p)
        c = (np.arange(g) + 0.5) / g
        cy, cx = np.meshgrid(c, c, indexing="ij")
        face_pos = np.tile(np.stack([cx.ravel(), cy.ravel()], axis=1), (n_v, 1))
        face_time = np.repeat(v_time, g * g, axis=0)
        face = Modality(
            torch.from_numpy(face_x.astype(np.float32)),
            pos=torch.from_numpy(face_pos.astype(np.float32)),
            time=torch.from_numpy(face_time.astype(np.float32)),
        )
    else:
        face = Modality(
            torch.from_numpy(imgs.reshape(n_v, -1).astype(np.float32)),
            time=torch.from_numpy(v_time.astype(np.float32)),
        )

    return face, face_valence


def _audio(rng: np.random.Generator, cfg: SentimentConfig, sarcastic: bool, emphasis: np.ndarray, duration: float,
           token_at: Any) -> Modality:
    """The audio modality (pitch, energy, their changes, noise dimensions); draws from ``rng`` after the face."""
    n_a = max(1, math.ceil(duration * cfg.audio_fps))
    a_time = _spans(n_a, cfg.audio_fps, duration)
    tc = a_time.mean(axis=1)
    a_tok = token_at(tc)
    speaking = a_tok >= 0
    if sarcastic:
        base_pitch, contour = rng.uniform(-1.0, -0.6), 0.03
        energy = np.where(speaking, 0.35, 0.05)
    else:
        base_pitch, contour = rng.uniform(-0.2, 0.6), 0.3
        energy = np.where(speaking, 0.3 + 0.6 * emphasis[np.maximum(a_tok, 0)], 0.05)
    phase = rng.uniform(0, 2 * np.pi)
    pitch = base_pitch + contour * np.sin(2 * np.pi * tc / max(duration, 1e-6) + phase)
    pitch = pitch + cfg.audio_noise * rng.standard_normal(n_a)
    energy = energy + cfg.audio_noise * rng.standard_normal(n_a)
    d_pitch = np.diff(pitch, prepend=pitch[0])
    d_energy = np.diff(energy, prepend=energy[0])
    audio_x = np.concatenate(
        [np.stack([pitch, energy, d_pitch, d_energy], axis=1), rng.standard_normal((n_a, cfg.audio_noise_dims))],
        axis=1,
    )

    return Modality(torch.from_numpy(audio_x.astype(np.float32)), time=torch.from_numpy(a_time.astype(np.float32)))


def _generate_one(
    rng: np.random.Generator, cfg: SentimentConfig
) -> tuple[dict[str, Modality], float, float, dict[str, Any]]:
    sarcastic = bool(rng.random() < cfg.p_sarcasm)
    ids, mood = _draw_words(rng, cfg, sarcastic)
    n = len(ids)
    words = [VOCAB[i] for i in ids]
    ids_arr = np.asarray(ids)
    # Latent flags and score.
    neg = np.asarray(negation_flags(words), dtype=bool)
    inten = np.asarray(intensifier_flags(words), dtype=bool)
    emphasis = rng.random(n)
    if sarcastic:
        emphasis[:] = 0.0
    sent = _IS_SENTIMENT[ids_arr]
    raw = score_from_latents(
        _VALENCE_ARR[ids_arr][sent], neg[sent], inten[sent], emphasis[sent], sarcastic,
        cfg.intensity_gain, cfg.score_scale,
    )  # fmt: skip
    clean = float(np.clip(raw, -3.0, 3.0))
    y = float(np.clip(clean + cfg.label_noise * rng.standard_normal(), -3.0, 3.0))

    # Timing.
    j = cfg.rate_jitter
    rate = cfg.speaking_rate * rng.uniform(1 - j, 1 + j)
    slot = rng.uniform(1 - j, 1 + j, size=n) / rate
    speak = slot * rng.uniform(0.75, 0.95, size=n)
    offset = rng.uniform(0.1, 0.4)
    starts = offset + np.concatenate([[0.0], np.cumsum(slot)[:-1]])
    ends = starts + speak
    duration = float(ends[-1] + rng.uniform(0.1, 0.4))
    text_time = np.stack([starts, ends], axis=1)

    # Text.
    table = _embedding_table(cfg.text_dim)
    text_x = table[ids_arr] + cfg.text_noise * rng.standard_normal((n, cfg.text_dim))

    def token_at(t: np.ndarray) -> np.ndarray:
        """Index of the token spoken at each time, or -1 in a pause."""
        k = np.searchsorted(starts, t, side="right") - 1
        k_c = np.clip(k, 0, n - 1)
        return np.where((k >= 0) & (t < ends[k_c]), k_c, -1)

    face, face_valence = _face(rng, cfg, sarcastic, mood, duration, token_at)
    audio = _audio(rng, cfg, sarcastic, emphasis, duration, token_at)

    mods = {
        "text": Modality(
            torch.from_numpy(text_x.astype(np.float32)),
            time=torch.from_numpy(text_time.astype(np.float32)),
            labels=words,
        ),
        "face": face,
        "audio": audio,
    }
    meta: dict[str, Any] = {
        "words": words,
        "negated": neg.tolist(),
        "intensified": inten.tolist(),
        "sentiment": sent.tolist(),
        "emphasis": emphasis.tolist(),
        "sarcastic": sarcastic,
        "mood": mood,
        "face_valence": face_valence,
        "duration": duration,
        "raw_score": raw,
        "score": clean,
        "y": y,
    }
    return mods, y, duration, meta


@overload
def generate_sentiment(
    num_samples: int, seed: int, config: Optional[SentimentConfig] = ..., return_meta: Literal[False] = ...
) -> list[MultimodalSample]: ...
@overload
def generate_sentiment(
    num_samples: int, seed: int, config: Optional[SentimentConfig] = ..., *, return_meta: Literal[True]
) -> tuple[list[MultimodalSample], list[dict[str, Any]]]: ...
@overload
def generate_sentiment(
    num_samples: int, seed: int, config: Optional[SentimentConfig], return_meta: Literal[True]
) -> tuple[list[MultimodalSample], list[dict[str, Any]]]: ...


def generate_sentiment(
    num_samples: int,
    seed: int,
    config: Optional[SentimentConfig] = None,
    return_meta: bool = False,
) -> Union[list[MultimodalSample], tuple[list[MultimodalSample], list[dict[str, Any]]]]:
    """Generate ``num_samples`` synthetic sentiment utterances, deterministically from ``seed``.

    Args:
        num_samples: Number of samples (``>= 0``).
        seed: Non-negative integer seed; the same seed and config give identical samples.
        config: A :class:`SentimentConfig` (default settings when ``None``).
        return_meta: Also return one dict of latent variables per sample.

    Returns:
        A list of :class:`~mmgraph.MultimodalSample` with modalities ``text``, ``face`` and
        ``audio`` (minus dropped ones) and ``y`` a ``float32`` tensor of shape ``(1,)``. With
        ``return_meta=True``, ``(samples, meta)`` where ``meta[i]`` has the keys ``words``,
        per-token lists ``negated``, ``intensified``, ``sentiment`` (is a sentiment word) and
        ``emphasis``, and ``sarcastic``, ``mood``, ``face_valence``, ``duration`` (seconds),
        ``raw_score`` (before clipping), ``score`` (clipped, before label noise), ``y`` and
        ``dropped`` (names of the dropped modalities).

    Raises:
        ValueError: for a bad ``num_samples``, ``seed`` or ``config``.
    """
    num_samples = check_int(num_samples, "num_samples", low=0)
    seed = _check_seed(seed)
    cfg = _config(config)
    if not isinstance(return_meta, (bool, np.bool_)):
        raise ValueError(f"return_meta: expected a bool, got {type(return_meta).__name__}")
    content_seq, drop_seq = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(content_seq)
    drop_rng = np.random.default_rng(drop_seq)
    p_drop = np.array([cfg.drop_probabilities[m] for m in MODALITIES])
    samples: list[MultimodalSample] = []
    metas: list[dict[str, Any]] = []
    for _ in range(num_samples):
        mods, y, _, meta = _generate_one(rng, cfg)
        u = drop_rng.random(len(MODALITIES))
        dropped = u < p_drop
        if dropped.all():
            keep = min(range(len(MODALITIES)), key=lambda k: (p_drop[k], -u[k]))
            dropped[keep] = False
        names = [m for m, d in zip(MODALITIES, dropped) if d]
        for m in names:
            del mods[m]
        samples.append(MultimodalSample(mods, y=torch.tensor([y], dtype=torch.float32)))
        meta["dropped"] = names
        metas.append(meta)
    return (samples, metas) if return_meta else samples


def sentiment_splits(
    train: int = 1284,
    val: int = 229,
    test: int = 686,
    seed: int = 0,
    config: Optional[SentimentConfig] = None,
) -> dict[str, list[MultimodalSample]]:
    """Train/val/test splits sized like CMU-MOSI (1284/229/686), each from its own derived seed.

    Split ``i`` (train 0, val 1, test 2) uses the seed
    ``numpy.random.SeedSequence([seed, i]).generate_state(1)[0]``, so splits are independent,
    differ from each other and are reproducible from ``seed``.

    Args:
        train: Number of training samples (``>= 0``).
        val: Number of validation samples (``>= 0``).
        test: Number of test samples (``>= 0``).
        seed: Non-negative integer base seed.
        config: A :class:`SentimentConfig` shared by the splits.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``.

    Raises:
        ValueError: for a negative or non-integer size, a bad seed or a bad config.
    """
    sizes = {"train": train, "val": val, "test": test}
    for name, size in sizes.items():
        check_int(size, name, low=0)
    seed = _check_seed(seed)
    cfg = _config(config)
    out: dict[str, list[MultimodalSample]] = {}
    for i, (name, size) in enumerate(sizes.items()):
        split_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        out[name] = generate_sentiment(size, split_seed, cfg)
    return out
