"""Tests for mg.edges.TemporalOverlap, through GraphBuilder, on hand-placed time spans."""

from __future__ import annotations

import math

import pytest
import torch

import mmgraph as mg

T2A, A2T = ("text", "cross", "audio"), ("audio", "cross", "text")


def _pairs(store):
    return [tuple(e) for e in store.edge_index.t().tolist()]


def _cross(text_time, audio_time, tolerance=0.0):
    builder = mg.GraphBuilder(cross={("text", "audio"): mg.edges.TemporalOverlap(tolerance)})
    sample = mg.MultimodalSample(
        text=mg.Modality(torch.ones(len(text_time), 2), time=text_time),
        audio=mg.Modality(torch.ones(len(audio_time), 3), time=audio_time),
    )
    return builder(sample)


def test_hand_built_alignment():
    g = _cross([[0, 1], [1, 2], [2.5, 2.5]], [[0.5, 1.5], [2, 3], [3, 4]])
    # [0,1]~[0.5,1.5] overlap; [1,2]~[0.5,1.5] overlap; [1,2]~[2,3] only touch (no edge);
    # the instant 2.5 lies inside [2,3] (edge); [2.5,2.5]~[3,4] apart
    assert _pairs(g[T2A]) == [(0, 0), (1, 0), (2, 1)]
    # [centre offset, IoU]: (0.5 - 1, 0.5/1.5), (1.5 - 1, 0.5/1.5), (2.5 - 2.5, 0/1)
    assert torch.allclose(g[T2A].edge_attr, torch.tensor([[-0.5, 1 / 3], [0.5, 1 / 3], [0.0, 0.0]]))
    assert _pairs(g[A2T]) == [(0, 0), (0, 1), (1, 2)]
    assert torch.allclose(g[A2T].edge_attr, torch.tensor([[0.5, 1 / 3], [-0.5, 1 / 3], [0.0, 0.0]]))


@pytest.mark.parametrize(
    "a, b, linked",
    [
        ([0, 2], [1, 3], True),
        ([0, 4], [1, 2], True),
        ([1, 2], [1, 2], True),
        ([0, 1], [1, 2], False),  # touching spans
        ([1, 2], [0, 1], False),
        ([0, 1], [2, 3], False),
        ([1.5, 1.5], [1, 2], True),  # instant inside
        ([1, 1], [1, 2], True),  # instant at the start
        ([2, 2], [1, 2], True),  # instant at the end
        ([1, 2], [2, 2], True),  # the other side is the instant
        ([2.5, 2.5], [1, 2], False),  # instant outside
        ([1, 1], [1, 1], True),  # the same instant
        ([1, 1], [1.5, 1.5], False),  # different instants
    ],
)
def test_overlap_rule(a, b, linked):
    g = _cross([a], [b])
    expected = [(0, 0)] if linked else []
    assert _pairs(g[T2A]) == expected
    assert _pairs(g[A2T]) == expected


@pytest.mark.parametrize(
    "a, b, tolerance, linked",
    [
        ([0, 1], [1.25, 2], 0.0, False),
        ([0, 1], [1.25, 2], 0.125, False),
        ([0, 1], [1.25, 2], 0.5, True),
        ([0, 1], [1, 2], 0.25, True),  # touching becomes overlapping
        ([1, 1], [1.5, 1.5], 1.0, True),
        ([1, 1], [1.5, 1.5], 0.25, False),
        ([3, 4], [0, 1], 2.5, True),
    ],
)
def test_tolerance(a, b, tolerance, linked):
    g = _cross([a], [b], tolerance)
    assert _pairs(g[T2A]) == ([(0, 0)] if linked else [])


@pytest.mark.parametrize(
    "a, b, attr",
    [
        ([0, 2], [1, 3], [-1, 1 / 3]),
        ([0, 4], [1, 2], [0.5, 0.25]),
        ([1, 2], [1, 2], [0, 1]),
        ([1.5, 1.5], [1, 2], [0, 0]),
        ([1, 1], [1, 1], [0, 1]),
        ([2, 2], [1, 2], [0.5, 0]),
    ],
)
def test_attribute_is_centre_offset_and_iou(a, b, attr):
    g = _cross([a], [b])
    assert torch.allclose(g[T2A].edge_attr, torch.tensor([attr], dtype=torch.float))
    assert torch.allclose(g[A2T].edge_attr, torch.tensor([[-attr[0], attr[1]]], dtype=torch.float))


def test_time_stamps_are_instants():
    g = _cross(torch.tensor([1.0, 3.0]), [[0, 1], [1, 2], [3.5, 4]])
    # instant 1 touches [0,1] and [1,2]; instant 3 touches nothing
    assert _pairs(g[T2A]) == [(0, 0), (0, 1)]


def test_intra_modal_without_self_loops():
    builder = mg.GraphBuilder(intra={"audio": mg.edges.TemporalOverlap()})
    sample = mg.MultimodalSample(audio=mg.Modality(torch.ones(4, 1), time=[[0, 2], [1, 3], [4, 5], [4, 4]]))
    store = builder(sample)["audio", "intra", "audio"]
    # [4,4] is an instant at the start of [4,5]
    assert _pairs(store) == [(0, 1), (1, 0), (2, 3), (3, 2)]
    assert torch.allclose(store.edge_attr, torch.tensor([[-1, 1 / 3], [1, 1 / 3], [0.5, 0.0], [-0.5, 0.0]]))


def test_schema_and_repr():
    s = mg.edges.TemporalOverlap()
    assert s.edge_dim == 2 and s.requires == ("time",) and not s.intra_only
    assert s.tolerance == 0.0
    assert repr(s) == "TemporalOverlap()"
    assert repr(mg.edges.TemporalOverlap(0.5)) == "TemporalOverlap(tolerance=0.5)"
    assert mg.edges.TemporalOverlap(1).tolerance == 1.0


@pytest.mark.parametrize("tolerance", [-1, -0.5, "0.1", None])
def test_invalid_tolerance(tolerance):
    with pytest.raises(ValueError, match=r"^TemporalOverlap: tolerance must be a finite number >= 0, got " + repr(tolerance) + "$"):
        mg.edges.TemporalOverlap(tolerance)


def test_nan_tolerance_is_rejected():
    # NaN is not ">= 0": accepting it silently removes every edge (every comparison with NaN is False).
    with pytest.raises(ValueError, match=r"^TemporalOverlap:.*tolerance.*finite.*>=.*0"):
        mg.edges.TemporalOverlap(math.nan)


def test_missing_time_names_modality_and_strategy():
    builder = mg.GraphBuilder(cross={("text", "audio"): mg.edges.TemporalOverlap()})
    sample = mg.MultimodalSample(text=mg.Modality(torch.ones(1, 1), time=[0.0]), audio=torch.ones(2, 1))
    with pytest.raises(ValueError, match=r"^TemporalOverlap\(\) on \('text', 'audio'\) needs time for modality 'audio', "
                                         r"which has none: pass Modality\(x, time=\.\.\.\)$"):
        builder(sample)
