"""Tests for mmgraph.data.batch: collate, ModalityBatch, MultimodalBatch, unbatch, without, to."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg
from mmgraph.data.batch import ModalityBatch, MultimodalBatch, collate

T, F = True, False


def _three_samples():
    s0 = mg.MultimodalSample(
        text=mg.Modality([[1, 2], [3, 4]], time=[[0, 1], [1, 2]], labels=["a", "b"]),
        image=mg.Modality([[9, 9, 9]], pos=[[0.5, 0.5]]),
        y=0,
    )
    s1 = mg.MultimodalSample(text=mg.Modality([[5, 6]], time=[[2, 3]]), y=1)
    s2 = mg.MultimodalSample(
        text=mg.Modality([[7, 8], [9, 10], [11, 12]], time=[0, 1, 2], labels=["c", "d", "e"]),
        image=mg.Modality([[1, 1, 1], [2, 2, 2]], pos=[[0, 0], [1, 1]]),
        y=2,
    )
    return [s0, s1, s2]


# --------------------------------------------------------------------------------------
# collate: padding, masks, lengths, presence, targets (all hand-checked)
# --------------------------------------------------------------------------------------
def test_collate_pads_text_by_hand():
    b = collate(_three_samples())
    assert isinstance(b, MultimodalBatch)
    assert b.batch_size == 3 and b.modalities == ["image", "text"] and len(b) == 2
    text = b["text"]
    assert text.x.tolist() == [
        [[1, 2], [3, 4], [0, 0]],
        [[5, 6], [0, 0], [0, 0]],
        [[7, 8], [9, 10], [11, 12]],
    ]
    assert text.mask.dtype == torch.bool
    assert text.mask.tolist() == [[T, T, F], [T, F, F], [T, T, T]]
    assert text.lengths.tolist() == [2, 1, 3]
    assert text.present.tolist() == [T, T, T]
    assert text.time.tolist() == [
        [[0, 1], [1, 2], [0, 0]],
        [[2, 3], [0, 0], [0, 0]],
        [[0, 0], [1, 1], [2, 2]],
    ]
    assert text.pos is None
    assert text.labels == [["a", "b"], None, ["c", "d", "e"]]
    assert text.feature_dim == 2
    assert text.flat().tolist() == [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12]]


def test_collate_sample_lacking_a_modality_gets_an_empty_row():
    image = collate(_three_samples())["image"]
    assert image.x.tolist() == [
        [[9, 9, 9], [0, 0, 0]],
        [[0, 0, 0], [0, 0, 0]],
        [[1, 1, 1], [2, 2, 2]],
    ]
    assert image.mask.tolist() == [[T, F], [F, F], [T, T]]
    assert image.lengths.tolist() == [1, 0, 2]
    assert image.present.tolist() == [T, F, T]
    assert image.pos.tolist() == [[[0.5, 0.5], [0, 0]], [[0, 0], [0, 0]], [[0, 0], [1, 1]]]
    assert image.time is None and image.labels is None


def test_collate_modality_missing_from_the_first_sample():
    s0 = mg.MultimodalSample(text=torch.ones(1, 2))
    s1 = mg.MultimodalSample(text=torch.ones(2, 2), audio=mg.Modality(torch.full((2, 3), 4.0), pos=torch.ones(2, 1)))
    audio = collate([s0, s1])["audio"]
    assert audio.x.shape == (2, 2, 3) and audio.pos.shape == (2, 2, 1)
    assert audio.mask.tolist() == [[F, F], [T, T]]
    assert audio.x[0].abs().sum() == 0 and bool((audio.x[1] == 4).all())


@pytest.mark.parametrize(
    "ys, expected_shape, expected",
    [
        ([0, 2, 1], (3,), [0, 2, 1]),
        ([0.5, 1.5, -1.0], (3,), [0.5, 1.5, -1.0]),
        ([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], (3, 2), [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
    ],
    ids=["class", "scalar", "vector"],
)
def test_collate_stacks_targets(ys, expected_shape, expected):
    samples = [mg.MultimodalSample(text=torch.ones(1, 1), y=y) for y in ys]
    y = collate(samples).y
    assert y.shape == expected_shape
    assert y.tolist() == expected


def test_collate_without_targets_gives_none():
    assert collate([mg.MultimodalSample(text=torch.ones(1, 1))] * 2).y is None


def test_collate_mixed_targets_error():
    samples = [mg.MultimodalSample(text=torch.ones(1, 1), y=y) for y in (1, None, 0, None)]
    with pytest.raises(ValueError, match=r"^collate: some samples have a target y and others do not "
                                         r"\(missing in samples \[1, 3\]\)$"):
        collate(samples)


def test_collate_target_shape_error():
    samples = [mg.MultimodalSample(text=torch.ones(1, 1), y=y) for y in (1.0, [1.0, 2.0])]
    with pytest.raises(ValueError, match=r"^collate:.*targets.*shapes.*\[\(\).*\(2,\)\]$"):
        collate(samples)


# --------------------------------------------------------------------------------------
# collate errors name the modality and the sample index
# --------------------------------------------------------------------------------------
def _s(**mods):
    return mg.MultimodalSample(**mods)


COLLATE_ERRORS = [
    ("feature-dim",
     [_s(text=torch.ones(2, 2)), _s(text=torch.ones(2, 2)), _s(text=torch.ones(1, 3))],
     r"^collate: modality 'text': expected feature_dim 2 \(as in sample 0\), got 3 in sample 2$"),
    ("feature-dim-late-reference",
     [_s(text=torch.ones(1, 1)), _s(text=torch.ones(1, 1), image=torch.ones(1, 4)),
      _s(text=torch.ones(1, 1), image=torch.ones(1, 5))],
     r"^collate: modality 'image': expected feature_dim 4 \(as in sample 1\), got 5 in sample 2$"),
    ("pos-missing",
     [_s(image=mg.Modality(torch.ones(1, 2), pos=torch.ones(1, 2))), _s(image=mg.Modality(torch.ones(1, 2)))],
     r"^collate: modality 'image': sample 0 has pos but sample 1 lacks it; give it for all samples or none$"),
    ("pos-extra",
     [_s(image=mg.Modality(torch.ones(1, 2))), _s(image=mg.Modality(torch.ones(1, 2), pos=torch.ones(1, 2)))],
     r"^collate: modality 'image': sample 0 lacks pos but sample 1 has it"),
    ("time-missing",
     [_s(audio=mg.Modality(torch.ones(1, 2), time=[0.0])), _s(audio=mg.Modality(torch.ones(1, 2)))],
     r"^collate: modality 'audio': sample 0 has time but sample 1 lacks it"),
    ("pos-dim",
     [_s(image=mg.Modality(torch.ones(1, 2), pos=torch.ones(1, 2))),
      _s(image=mg.Modality(torch.ones(1, 2), pos=torch.ones(1, 3)))],
     r"^collate: modality 'image': expected pos_dim 2 \(as in sample 0\), got 3 in sample 1$"),
    ("empty", [], r"^collate: expected at least one sample, got an empty sequence$"),
    ("not-a-sample", [_s(text=torch.ones(1, 1)), torch.ones(1, 1)],
     r"^collate: sample 1: expected a MultimodalSample, got Tensor$"),
]


@pytest.mark.parametrize("samples, match", [c[1:] for c in COLLATE_ERRORS], ids=[c[0] for c in COLLATE_ERRORS])
def test_collate_errors(samples, match):
    with pytest.raises(ValueError, match=match):
        collate(samples)


def test_collate_accepts_any_sequence():
    samples = _three_samples()
    assert collate(tuple(samples)).batch_size == 3
    assert collate(iter(samples)).batch_size == 3


# --------------------------------------------------------------------------------------
# unbatch round trip
# --------------------------------------------------------------------------------------
def _assert_samples_equal(a, b):
    assert a.modalities == b.modalities
    for name in a.modalities:
        ma, mb = a[name], b[name]
        assert ma.x.dtype == mb.x.dtype and torch.equal(ma.x, mb.x)
        for key in ("pos", "time"):
            va, vb = getattr(ma, key), getattr(mb, key)
            assert (va is None) == (vb is None)
            if va is not None:
                assert va.dtype == vb.dtype and torch.equal(va, vb)
        assert ma.labels == mb.labels
    assert (a.y is None) == (b.y is None)
    if a.y is not None:
        assert a.y.dtype == b.y.dtype and torch.equal(a.y, b.y)


def _random_samples(seed, with_y):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(4):
        mods = {}
        n = int(torch.randint(1, 5, (1,), generator=g))
        mods["text"] = mg.Modality(torch.randn(n, 3, generator=g), time=torch.rand(n, generator=g),
                                   labels=[f"w{i}{k}" for k in range(n)] if i % 2 else None)
        if i != 1:  # sample 1 lacks the image
            m = int(torch.randint(1, 4, (1,), generator=g))
            mods["image"] = mg.Modality(torch.randn(m, 2, generator=g), pos=torch.rand(m, 2, generator=g))
        out.append(mg.MultimodalSample(mods, y=torch.randn(2, generator=g) if with_y else None))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_y", [True, False])
def test_unbatch_inverts_collate(seed, with_y):
    samples = _random_samples(seed, with_y)
    back = collate(samples).unbatch()
    assert len(back) == len(samples)
    for a, b in zip(samples, back):
        _assert_samples_equal(a, b)


def test_unbatch_hand_built():
    samples = _three_samples()
    back = collate(samples).unbatch()
    assert back[1].modalities == ["text"]
    for a, b in zip(samples, back):
        _assert_samples_equal(a, b)


# --------------------------------------------------------------------------------------
# ModalityBatch / MultimodalBatch directly
# --------------------------------------------------------------------------------------
def test_modality_batch_default_mask_is_all_true():
    mb = ModalityBatch(torch.ones(2, 3, 4))
    assert mb.mask.dtype == torch.bool and bool(mb.mask.all()) and mb.mask.shape == (2, 3)
    assert mb.lengths.tolist() == [3, 3]


def test_modality_batch_mask_is_cast_to_bool():
    mb = ModalityBatch(torch.ones(2, 2, 1), mask=torch.tensor([[1, 0], [0, 0]]))
    assert mb.mask.dtype == torch.bool
    assert mb.present.tolist() == [T, F]


MB_ERRORS = [
    ("x-rank", dict(x=torch.ones(2, 3)),
     r"^modality 'text': x: expected a padded tensor of shape \(batch, length, dim\), got \(2, 3\)$"),
    ("x-type", dict(x=[[[1.0]]]),
     r"^modality 'text': x: expected a padded tensor of shape \(batch, length, dim\), got list$"),
    ("mask", dict(x=torch.ones(2, 3, 1), mask=torch.ones(2, 2, dtype=torch.bool)),
     r"^modality 'text': mask: expected shape \(2, 3\) to match x, got \(2, 2\)$"),
    ("pos", dict(x=torch.ones(2, 3, 1), pos=torch.ones(2, 2, 2)),
     r"^modality 'text': pos: expected shape \(2, 3, pos_dim\) to match x, got \(2, 2, 2\)$"),
    ("time", dict(x=torch.ones(2, 3, 1), time=torch.ones(2, 3, 3)),
     r"^modality 'text': time: expected shape \(2, 3, 2\) to match x, got \(2, 3, 3\)$"),
    ("labels", dict(x=torch.ones(2, 3, 1), labels=[["a"]]),
     r"^modality 'text': labels: expected one entry per sample \(2\), got 1$"),
]


@pytest.mark.parametrize("kwargs, match", [c[1:] for c in MB_ERRORS], ids=[c[0] for c in MB_ERRORS])
def test_modality_batch_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModalityBatch(name="text", **kwargs)


def test_multimodal_batch_errors():
    a, b = ModalityBatch(torch.ones(2, 1, 1)), ModalityBatch(torch.ones(3, 1, 1))
    with pytest.raises(ValueError, match=r"^a.*MultimodalBatch.*needs.*least.*modality"):
        MultimodalBatch({})
    with pytest.raises(ValueError, match=r"^all.*\{'a':.*2.*'b':.*3\}$"):
        MultimodalBatch({"a": a, "b": b})
    with pytest.raises(ValueError, match=r"^y:.*batch.*2.*dimension.*\(3,\)$"):
        MultimodalBatch({"a": a}, y=torch.zeros(3))
    with pytest.raises(ValueError, match=r"^y:.*batch.*2.*dimension.*\(\)$"):
        MultimodalBatch({"a": a}, y=torch.tensor(1))
    with pytest.raises(ValueError, match=r"^modality name 'fusion' is reserved"):
        MultimodalBatch({"fusion": a})


def test_multimodal_batch_missing_key_error():
    with pytest.raises(KeyError, match=r"modality.*'audio'.*batch.*\['image'.*'text'\]"):
        collate(_three_samples())["audio"]


def test_batch_without():
    b = collate(_three_samples())
    t = b.without("image")
    assert t.modalities == ["text"] and t.batch_size == 3
    assert t["text"] is b["text"] and torch.equal(t.y, b.y)
    assert b.modalities == ["image", "text"]
    with pytest.raises(ValueError, match=r"^cannot.*\['audio'\]:.*modalities.*\['image'.*'text'\]$"):
        b.without("audio")
    with pytest.raises(ValueError, match=r"^removing.*\['image'.*'text'\].*would.*modality$"):
        b.without("image", "text")


def test_batch_to_casts_features_but_keeps_masks_and_targets():
    b = collate(_three_samples())
    d = b.to(torch.float64)
    for name in ("image", "text"):
        assert d[name].x.dtype == torch.float64
        assert torch.equal(d[name].x, b[name].x.double())
        assert d[name].mask.dtype == torch.bool and torch.equal(d[name].mask, b[name].mask)
    assert d["image"].pos.dtype == d["text"].time.dtype == torch.float64
    assert d.y.dtype == torch.long and torch.equal(d.y, b.y)
    assert d["text"].labels == b["text"].labels
    assert b["text"].x.dtype == torch.float32
    assert d.device == torch.device("cpu")


def test_batch_to_device_keyword():
    b = collate(_three_samples()).to(device="cpu", dtype=torch.float64)
    assert b["text"].x.dtype == torch.float64 and b["text"].mask.dtype == torch.bool and b.y.dtype == torch.long


def test_batch_repr():
    b = collate(_three_samples())
    assert repr(b) == (
        "MultimodalBatch(batch_size=3, image=ModalityBatch(x=[3, 2, 3], pos=[3, 2, 2]), "
        "text=ModalityBatch(x=[3, 3, 2], time=[3, 3, 2]))"
    )


def test_batch_select_picks_and_repeats_samples():
    b = collate(_three_samples())
    s = b.select(torch.tensor([2, 0, 2]))
    assert s.batch_size == 3 and s.modalities == ["image", "text"]
    assert s.y.tolist() == [2, 0, 2]
    for name in ("image", "text"):
        assert torch.equal(s[name].x, b[name].x[[2, 0, 2]]) and torch.equal(s[name].mask, b[name].mask[[2, 0, 2]])
    assert torch.equal(s["image"].pos, b["image"].pos[[2, 0, 2]]) and s["image"].time is None
    assert s["text"].labels == [["c", "d", "e"], ["a", "b"], ["c", "d", "e"]]
    assert [u["text"].x.tolist() for u in s.unbatch()] == [[[7, 8], [9, 10], [11, 12]], [[1, 2], [3, 4]],
                                                          [[7, 8], [9, 10], [11, 12]]]


def test_batch_select_raw_keeps_items():
    data = torch.arange(2 * 3, dtype=torch.float32).reshape(2, 3)
    b = MultimodalBatch({}, raw={"image": mg.RawModality(data, torch.tensor([1, 0, 1]))}, y=torch.tensor([5, 6, 7]))
    s = b.select(torch.tensor([1, 1, 2, 0]))
    assert s.raw["image"].data is data and s.raw["image"].index.tolist() == [0, 0, 1, 1]
    assert s.y.tolist() == [6, 6, 7, 5]


@pytest.mark.parametrize("index, match", [
    (torch.tensor([0, 3]), r"index: expected values in \[0, 2\] \(the batch size is 3\), got min 0 max 3"),
    (torch.tensor([-1]), r"index: expected values in \[0, 2\].*got min -1 max -1"),
    (torch.tensor([0.0]), r"index: expected a 1-D integer tensor of sample indices, got \(\(1,\), torch.float32\)"),
    (torch.tensor([[0]]), r"index: expected a 1-D integer tensor of sample indices, got \(\(1, 1\), torch.int64\)"),
    ([0, 1], r"index: expected a 1-D integer tensor of sample indices, got list"),
    (torch.tensor([], dtype=torch.long), r"index: expected at least one sample index, got an empty tensor"),
])
def test_batch_select_errors(index: object, match: str):
    with pytest.raises(ValueError, match=match):
        collate(_three_samples()).select(index)


# ---- the boundary: values are checked where batches are made


@pytest.mark.parametrize(
    "x, words",
    [
        (torch.full((2, 3, 4), float("nan")), "modality 'text': x: expected finite values"),
        (torch.zeros(2, 3, 4, dtype=torch.bool), "modality 'text': x: expected real-valued numbers, got dtype torch.bool"),
        (torch.zeros(2, 3, 4, dtype=torch.complex64), "expected real-valued numbers"),
        (torch.zeros(0, 3, 4), "modality 'text': x: expected at least one sample"),
        (torch.empty(2, 3, 4, device="meta"), "modality 'text': x: expected a tensor with data"),
        (torch.full((2, 3, 4), 1e30), "modality 'text': x: expected values within"),
    ],
)
def test_modality_batch_refuses_bad_values(x: torch.Tensor, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        mg.ModalityBatch(x, name="text")


def test_modality_batch_converts_integer_features_and_checks_pos() -> None:
    mb = mg.ModalityBatch(torch.ones(2, 3, 4, dtype=torch.int64), name="text")
    assert mb.x.dtype == torch.get_default_dtype()
    with pytest.raises(ValueError, match="modality 'image': pos: expected finite values"):
        mg.ModalityBatch(torch.ones(2, 3, 4), pos=torch.full((2, 3, 2), float("inf")), name="image")
    with pytest.raises(ValueError, match="modality 'text': mask: expected shape"):
        mg.ModalityBatch(torch.ones(2, 3, 4), mask="all", name="text")


def test_modality_batch_unchecked_keeps_values() -> None:
    """Modules that make batches inside a forward pass skip the value checks (no device sync)."""
    nan = torch.full((1, 2, 3), float("nan"))
    assert torch.isnan(mg.ModalityBatch(nan, name="inner", check=False).x).all()


@pytest.mark.parametrize("y, words", [(torch.tensor([True, False]), "y: expected real numbers"),
                                      (torch.tensor([1 + 1j, 2j]), "y: expected real numbers"),
                                      (["cat", "dog"], "y: expected")])
def test_multimodal_batch_refuses_bad_targets(y, words: str) -> None:
    text = mg.ModalityBatch(torch.ones(2, 3, 4), name="text")
    with pytest.raises(ValueError, match=words):
        mg.MultimodalBatch({"text": text}, y=y)


def test_cast_changes_floating_tensors_only() -> None:
    text = mg.ModalityBatch(torch.ones(2, 3, 4, dtype=torch.float64), time=torch.zeros(2, 3, 2), name="text")
    batch = mg.MultimodalBatch({"text": text}, y=torch.tensor([0, 1]))
    out = batch.cast(torch.float32)
    assert out["text"].x.dtype == out["text"].time.dtype == torch.float32
    assert out["text"].mask.dtype == torch.bool and out.y.dtype == torch.int64
    assert out.cast(torch.float32) is out


def test_collate_promotes_mixed_float_dtypes() -> None:
    a = mg.MultimodalSample(text=torch.ones(2, 4, dtype=torch.float16))
    b = mg.MultimodalSample(text=torch.ones(3, 4, dtype=torch.float64))
    assert mg.collate([a, b])["text"].x.dtype == torch.float64


@pytest.mark.parametrize("x, words", [(torch.eye(3).to_sparse(), "modality 'text': x: expected a dense tensor"),
                                      (torch.empty(2, 3, device="meta"), "modality 'text': x: expected a tensor with data"),
                                      (torch.full((2, 3), -1e20), "modality 'text': x: expected values within")])
def test_samples_refuse_sparse_meta_and_huge(x: torch.Tensor, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        mg.MultimodalSample(text=x)


@pytest.mark.parametrize("y", [True, torch.tensor(False), 1 + 2j])
def test_samples_refuse_boolean_and_complex_targets(y) -> None:
    with pytest.raises(ValueError, match="y: expected real numbers"):
        mg.MultimodalSample(text=torch.ones(2, 3), y=y)
