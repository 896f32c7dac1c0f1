"""Tests for the synthetic multimodal sentiment dataset (mmgraph.datasets.sentiment)."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

import mmgraph as mg
from mmgraph.datasets.sentiment import (
    INTENSIFIERS,
    MODALITIES,
    NEGATIONS,
    NEGATIVE_WORDS,
    NEUTRAL_WORDS,
    POSITIVE_WORDS,
    VALENCE,
    VOCAB,
    WORD_CATEGORIES,
    SentimentConfig,
    generate_sentiment,
    intensifier_flags,
    negation_flags,
    render_face,
    score_from_latents,
    score_utterance,
    sentiment_splits,
    word_embeddings,
)

N = 120


@pytest.fixture(scope="module")
def data() -> tuple[list[mg.MultimodalSample], list[dict]]:
    return generate_sentiment(N, seed=7, return_meta=True)


def _same(a: mg.MultimodalSample, b: mg.MultimodalSample) -> bool:
    if a.modalities != b.modalities or not torch.equal(a.y, b.y):
        return False
    for name in a.modalities:
        ma, mb = a[name], b[name]
        for key in ("x", "pos", "time"):
            ta, tb = getattr(ma, key), getattr(mb, key)
            if (ta is None) != (tb is None) or (ta is not None and not torch.equal(ta, tb)):
                return False
        if ma.labels != mb.labels:
            return False
    return True


# ------------------------------------------------------------------ vocabulary
def test_vocabulary_and_categories() -> None:
    assert 35 <= len(VOCAB) <= 45 and len(set(VOCAB)) == len(VOCAB)
    assert set(NEGATIONS) == {"not", "never"} and set(INTENSIFIERS) == {"very", "extremely"}
    assert set(WORD_CATEGORIES) == set(VOCAB)
    assert all(VALENCE[w] > 0 for w in POSITIVE_WORDS) and all(VALENCE[w] < 0 for w in NEGATIVE_WORDS)
    assert all(VALENCE[w] == 0 for w in NEUTRAL_WORDS + NEGATIONS + INTENSIFIERS)


def test_embeddings_fixed_and_independent_of_data_seed() -> None:
    table = word_embeddings(32)
    assert table.shape == (len(VOCAB), 32) and torch.equal(table, word_embeddings(32))
    for seed in (0, 1):
        sample, meta = generate_sentiment(1, seed, SentimentConfig(text_noise=0.0), return_meta=True)
        ids = [VOCAB.index(w) for w in meta[0]["words"]]
        assert torch.allclose(sample[0]["text"].x, table[ids])


# ------------------------------------------------------------------ determinism
def test_deterministic_under_seed() -> None:
    a = generate_sentiment(8, seed=3)
    b = generate_sentiment(8, seed=3)
    assert all(_same(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("other", [4, 1000])
def test_seed_sensitivity(other: int) -> None:
    a = generate_sentiment(8, seed=3)
    b = generate_sentiment(8, seed=other)
    assert not any(_same(x, y) for x, y in zip(a, b))


def test_no_global_random_state_used() -> None:
    np.random.seed(0)
    torch.manual_seed(0)
    before = (np.random.get_state()[1].copy(), torch.get_rng_state().clone())
    generate_sentiment(3, seed=0)
    assert np.array_equal(before[0], np.random.get_state()[1]) and torch.equal(before[1], torch.get_rng_state())


def test_splits_sizes_distinct_and_reproducible() -> None:
    sig = inspect.signature(sentiment_splits).parameters
    assert (sig["train"].default, sig["val"].default, sig["test"].default) == (1284, 229, 686)
    s1 = sentiment_splits(train=5, val=3, test=4, seed=1)
    s2 = sentiment_splits(train=5, val=3, test=4, seed=1)
    assert {k: len(v) for k, v in s1.items()} == {"train": 5, "val": 3, "test": 4}
    assert all(_same(a, b) for k in s1 for a, b in zip(s1[k], s2[k]))
    assert not _same(s1["train"][0], s1["val"][0]) and not _same(s1["val"][0], s1["test"][0])
    assert not _same(s1["train"][0], sentiment_splits(train=1, val=1, test=1, seed=2)["train"][0])


# ------------------------------------------------------------------ shapes and time
@pytest.mark.parametrize("face_mode", ["patches", "frames"])
def test_shapes(face_mode: str) -> None:
    cfg = SentimentConfig(face_mode=face_mode, face_size=24, face_grid=3, audio_noise_dims=2, text_dim=16)
    samples, meta = generate_sentiment(6, seed=0, config=cfg, return_meta=True)
    for s, m in zip(samples, meta):
        assert s.modalities == ["audio", "face", "text"]
        assert s.y.shape == (1,) and s.y.dtype == torch.float32
        text, face, audio = s["text"], s["face"], s["audio"]
        assert text.x.shape == (len(m["words"]), 16) and text.labels == m["words"]
        assert audio.x.shape[1] == 6 and audio.pos is None
        n_frames = math.ceil(m["duration"] * cfg.video_fps)
        if face_mode == "patches":
            assert face.x.shape == (n_frames * 9, 64)
            assert face.pos.shape == (n_frames * 9, 2)
            centres = sorted({tuple(round(v, 4) for v in p) for p in face.pos.tolist()})
            assert centres == sorted((round((c + 0.5) / 3, 4), round((r + 0.5) / 3, 4)) for r in range(3) for c in range(3))
        else:
            assert face.x.shape == (n_frames, 576) and face.pos is None
        assert face.x.shape[1] == cfg.face_dim and audio.x.shape[1] == cfg.audio_dim


def test_time_spans_increasing_and_within_duration(data) -> None:
    samples, meta = data
    for s, m in zip(samples, meta):
        for name in MODALITIES:
            t = s[name].time
            assert (t[:, 1] >= t[:, 0]).all()
            assert (t[1:, 0] >= t[:-1, 0]).all()
            assert t.min() >= 0 and t.max() <= m["duration"] + 1e-5
        text_t = s["text"].time
        assert (text_t[1:, 0] >= text_t[:-1, 1]).all()  # words do not overlap
        assert (text_t[:, 1] > text_t[:, 0]).all()


def test_different_rates_per_modality(data) -> None:
    samples, meta = data
    cfg = SentimentConfig()
    n_audio = [len(s["audio"]) for s in samples]
    assert n_audio == [math.ceil(m["duration"] * cfg.audio_fps) for m in meta]
    span = {name: float(np.median(np.concatenate([(s[name].time[:, 1] - s[name].time[:, 0]).numpy() for s in samples])))
            for name in MODALITIES}  # fmt: skip
    assert span["audio"] == pytest.approx(1 / cfg.audio_fps, rel=1e-3)
    assert span["face"] == pytest.approx(1 / cfg.video_fps, rel=1e-3)
    assert 0.2 < span["text"] < 0.5 and len({round(v, 3) for v in span.values()}) == 3


# ------------------------------------------------------------------ scores
def test_score_range_and_meta_consistency(data) -> None:
    samples, meta = data
    y = torch.cat([s.y for s in samples])
    assert y.min() >= -3 and y.max() <= 3
    for s, m in zip(samples, meta):
        raw = score_utterance(m["words"], m["emphasis"], m["sarcastic"])
        assert raw == pytest.approx(m["raw_score"])
        assert m["score"] == pytest.approx(max(-3.0, min(3.0, raw)))
        assert abs(s.y.item() - m["score"]) < 0.6  # small label noise
        assert m["negated"] == negation_flags(m["words"]) and m["intensified"] == intensifier_flags(m["words"])


def test_label_distribution_covers_signs_and_classes(data) -> None:
    samples, _ = data
    y = np.array([s.y.item() for s in samples])
    assert (y > 0.5).sum() >= 10 and (y < -0.5).sum() >= 10
    classes = set(np.round(y).astype(int).tolist())
    assert len(classes) >= 5


def test_generated_data_uses_negation_intensifiers_sarcasm(data) -> None:
    _, meta = data
    assert any(any(m["negated"]) for m in meta)
    assert any(any(m["intensified"]) for m in meta)
    assert any(m["sarcastic"] for m in meta) and not all(m["sarcastic"] for m in meta)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["not", "good"], [False, True]),
        (["not", "very", "good"], [False, False, True]),
        (["never", "the", "very", "bad"], [False, False, False, True]),
        (["not", "the", "film", "was", "good"], [False] * 5),  # out of scope
        (["not", "good", "fun"], [False, True, False]),  # only the next sentiment word
        (["good", "not"], [False, False]),
    ],
)
def test_negation_flags(words: list[str], expected: list[bool]) -> None:
    assert negation_flags(words) == expected


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        (["good"], ["not", "good"]),
        (["the", "film", "was", "terrible"], ["the", "film", "was", "never", "terrible"]),
        (["very", "boring"], ["not", "very", "boring"]),
        (["it", "was", "amazing"], ["it", "was", "not", "the", "amazing"]),
    ],
)
def test_negation_flips_sign(plain: list[str], negated: list[str]) -> None:
    a, b = score_utterance(plain), score_utterance(negated)
    assert a != 0 and b == pytest.approx(-a)


def test_negation_out_of_scope_does_not_flip() -> None:
    assert score_utterance(["not", "the", "film", "was", "good"]) == pytest.approx(score_utterance(["good"]))


@pytest.mark.parametrize("negated", [False, True])
def test_sarcasm_flips_sign(negated: bool) -> None:
    args = ([1.5, 1.0], [negated, False], [True, False], [0.5, 0.9])
    assert score_from_latents(*args, sarcastic=True) == pytest.approx(-score_from_latents(*args))


def test_sarcastic_samples_positive_words_negative_score_and_prosody() -> None:
    cfg = SentimentConfig(p_sarcasm=0.5)
    samples, meta = generate_sentiment(60, seed=11, config=cfg, return_meta=True)
    sarc = [i for i, m in enumerate(meta) if m["sarcastic"]]
    plain = [i for i, m in enumerate(meta) if not m["sarcastic"]]
    assert sarc and plain
    for i in sarc:
        m = meta[i]
        assert m["raw_score"] < 0 and m["face_valence"] < 0
        assert score_utterance(m["words"], m["emphasis"]) > 0  # the words alone say positive
    pitch = {k: np.mean([samples[i]["audio"].x[:, 0].mean().item() for i in idx]) for k, idx in (("s", sarc), ("p", plain))}
    assert pitch["s"] < pitch["p"] - 0.3


def test_face_shows_mood_not_the_score() -> None:
    """The face is a weak mood cue (0.35 m + noise), not a readout of the score: fusion is needed."""
    _, meta = generate_sentiment(400, seed=5, config=SentimentConfig(p_sarcasm=0.0), return_meta=True)
    face = np.array([m["face_valence"] for m in meta])
    mood = np.array([m["mood"] for m in meta])
    score = np.array([m["score"] for m in meta])
    assert np.mean(face * mood) == pytest.approx(0.35, abs=0.05)
    assert np.std(face - 0.35 * mood) == pytest.approx(0.3, abs=0.05)
    # the face's sign agrees with the score's sign far less often than a readout would
    agree = np.mean(np.sign(face) == np.sign(score))
    assert 0.6 < agree < 0.85


@pytest.mark.parametrize("gain", [0.5, 1.0, 2.0])
def test_intensity_scales_magnitude(gain: float) -> None:
    low = score_from_latents([-1.5], [False], [True], [0.0], intensity_gain=gain)
    high = score_from_latents([-1.5], [False], [True], [1.0], intensity_gain=gain)
    assert high == pytest.approx(low * (1 + gain)) and abs(high) > abs(low)
    # emphasis on a word that is not intensified does not matter
    assert score_from_latents([-1.5], [False], [False], [1.0], intensity_gain=gain) == pytest.approx(low)


def test_intensifier_rule_via_words() -> None:
    plain = score_utterance(["very", "good"], emphasis=[0.0, 0.0])
    loud = score_utterance(["very", "good"], emphasis=[0.0, 1.0])
    assert loud == pytest.approx(2 * plain)
    assert score_utterance(["good", "very"], emphasis=[1.0, 1.0]) == pytest.approx(score_utterance(["good"]))


def test_audio_energy_tracks_emphasis(data) -> None:
    samples, meta = data
    emph, energy = [], []
    for s, m in zip(samples, meta):
        if m["sarcastic"]:
            continue
        a = s["audio"]
        centre = a.time.mean(dim=1)
        for (start, end), e in zip(s["text"].time.tolist(), m["emphasis"]):
            inside = (centre >= start) & (centre < end)
            if inside.any():
                emph.append(e)
                energy.append(a.x[inside, 1].mean().item())
    assert np.corrcoef(emph, energy)[0, 1] > 0.8


def test_face_mouth_curve_carries_valence() -> None:
    happy, sad = render_face(1.0), render_face(-1.0)
    assert happy.shape == (24, 24) and 0 <= happy.min() and happy.max() <= 1
    lower = slice(14, 24)
    # dark mouth pixels: centre column lower than the corners for a smile, higher for a frown
    row = {k: int(np.argmin(img[lower, 12])) for k, img in (("happy", happy), ("sad", sad))}
    assert row["happy"] > row["sad"]


# ------------------------------------------------------------------ missing modalities
@pytest.mark.parametrize("name", MODALITIES)
def test_drop_one_modality_everywhere(name: str) -> None:
    base = generate_sentiment(10, seed=5)
    dropped = generate_sentiment(10, seed=5, config=SentimentConfig(**{f"drop_{name}": 1.0}))
    for a, b in zip(base, dropped):
        assert name not in b and len(b) == 2
        assert _same(a.without(name), b)  # the other modalities are unchanged


def test_drop_all_never_leaves_sample_empty() -> None:
    cfg = SentimentConfig(drop_text=1.0, drop_face=1.0, drop_audio=1.0)
    samples, meta = generate_sentiment(30, seed=2, config=cfg, return_meta=True)
    assert all(len(s) == 1 for s in samples)
    assert len({s.modalities[0] for s in samples}) > 1
    assert all(len(m["dropped"]) == 2 for m in meta)


def test_drop_all_but_one_probability_keeps_lowest() -> None:
    cfg = SentimentConfig(drop_text=1.0, drop_face=0.9, drop_audio=1.0)
    samples = generate_sentiment(20, seed=2, config=cfg)
    assert all(s.modalities == ["face"] for s in samples)


def test_partial_drop_rate() -> None:
    samples = generate_sentiment(100, seed=9, config=SentimentConfig(drop_audio=0.5))
    missing = sum("audio" not in s for s in samples)
    assert 25 <= missing <= 75 and all("text" in s and "face" in s for s in samples)


# ------------------------------------------------------------------ collate
@pytest.mark.parametrize("drop", [0.0, 0.4])
def test_collate(drop: float) -> None:
    cfg = SentimentConfig(drop_text=drop, drop_face=drop, drop_audio=drop)
    samples = generate_sentiment(6, seed=1, config=cfg)
    batch = mg.collate(samples)
    assert batch.y.shape == (6, 1)
    assert set(batch.modalities) <= set(MODALITIES)
    for name in batch.modalities:
        mb = batch[name]
        assert mb.time is not None and mb.time.shape[:2] == mb.x.shape[:2]
        assert mb.present.tolist() == [name in s for s in samples]
    if "text" in batch:
        assert batch["text"].labels == [s["text"].labels if "text" in s else None for s in samples]


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_tokens": 0}, r"min_tokens: expected an int >= 1, got 0"),
        ({"min_tokens": 8, "max_tokens": 4}, r"max_tokens: expected >= min_tokens \(8\), got 4"),
        ({"max_sentiment_words": 0}, r"max_sentiment_words"),
        ({"text_dim": 2.5}, r"text_dim: expected an int.* got float"),
        ({"face_size": 25}, r"face_size: expected a multiple of face_grid \(3\), got 25"),
        ({"face_mode": "pixels"}, r"face_mode: expected 'patches' or 'frames', got 'pixels'"),
        ({"audio_fps": 0}, r"audio_fps: expected a number in \(0.0, inf\), got 0.0"),
        ({"p_sarcasm": 1.5}, r"p_sarcasm: expected a number in \[0.0, 1.0\], got 1.5"),
        ({"drop_face": -0.1}, r"drop_face: expected a number in \[0.0, 1.0\], got -0.1"),
        ({"label_noise": float("nan")}, r"label_noise: expected a finite number"),
        ({"p_negation": "high"}, r"p_negation: expected a finite number, got str"),
    ],
)
def test_config_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SentimentConfig(**kwargs)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: generate_sentiment(-1, 0), r"num_samples: expected an int >= 0, got -1"),
        (lambda: generate_sentiment(2.0, 0), r"num_samples: expected an int.* got float"),
        (lambda: generate_sentiment(2, -3), r"seed: expected a non-negative int, got -3"),
        (lambda: generate_sentiment(2, "a"), r"seed: expected a non-negative int, got str"),
        (lambda: generate_sentiment(2, 0, config={"p_sarcasm": 0.1}), r"config: expected a SentimentConfig"),
        (lambda: sentiment_splits(train=-1), r"train: expected an int >= 0, got -1"),
        (lambda: sentiment_splits(val=1.5), r"val: expected an int.* got float"),
        (lambda: sentiment_splits(seed=-1), r"seed: expected a non-negative int"),
        (lambda: score_from_latents([1.0], [True, False], [False], [0.0]), r"expected sequences of one length"),
        (lambda: score_from_latents([1.0], [False], [True], [1.5]), r"emphasis: expected values in \[0, 1\]"),
        (lambda: score_utterance(["good", "movie!"]), r"words: expected words from VOCAB, got 'movie!'"),
        (lambda: score_utterance("not good"), r"words: expected a sequence of words"),
        (lambda: score_utterance(["good"], emphasis=[0.1, 0.2]), r"emphasis: expected one value per word \(1\), got 2"),
        (lambda: negation_flags(["not", "good"], scope=0), r"scope: expected an int >= 1, got 0"),
    ],
)
def test_argument_errors(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_zero_samples() -> None:
    assert generate_sentiment(0, seed=0) == []
