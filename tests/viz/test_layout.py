from __future__ import annotations

import pytest
import torch

import mmgraph as mg
from mmgraph.graph.builder import FUSION
from mmgraph.viz.layout import modality_colors, node_kind
from tests.viz.conftest import make_model


@pytest.fixture
def G(samples):
    return mg.viz.to_networkx(make_model().builder(samples[0]))


def test_kinds(G) -> None:
    assert {t: node_kind(G, t) for t in ("text", "image", "audio", FUSION)} == {
        "text": "time", "image": "space", "audio": "time", FUSION: "fusion",
    }


def test_regions_at_their_positions_over_an_image(G) -> None:
    xy = mg.viz.modality_layout(G, image=True)
    for n, d in G.nodes(data=True):
        if d["modality"] == "image":
            assert xy[n] == pytest.approx((d["pos"][0], 1.0 - d["pos"][1]))  # y down in image coordinates


def test_rows_follow_time_and_fusion_sits_between(G) -> None:
    xy = mg.viz.modality_layout(G)
    for t in ("text", "audio"):
        nodes = sorted((d["time"][0], n) for n, d in G.nodes(data=True) if d["modality"] == t)
        xs = [xy[n][0] for _, n in nodes]
        assert xs == sorted(xs) and len(set(xs)) == len(xs)
    fx = xy[FUSION, 0][0]
    image_x = [xy[n][0] for n, d in G.nodes(data=True) if d["modality"] == "image"]
    row_x = [xy[n][0] for n, d in G.nodes(data=True) if d["modality"] in ("text", "audio")]
    assert max(image_x) < fx < min(row_x)


def test_sequence_rows_without_space_stack_around_the_fusion_node() -> None:
    builder = mg.GraphBuilder(intra={"a": mg.edges.Sequential(1), "b": mg.edges.Sequential(1)}, fusion_node=True)
    G = mg.viz.to_networkx(builder(mg.MultimodalSample(a=torch.randn(4, 2), b=torch.randn(3, 2))))
    xy = mg.viz.modality_layout(G)
    ys = {t: {xy[n][1] for n, d in G.nodes(data=True) if d["modality"] == t} for t in ("a", "b")}
    assert all(len(v) == 1 for v in ys.values())  # one row each
    assert min(ys["a"] | ys["b"]) < xy[FUSION, 0][1] < max(ys["a"] | ys["b"])
    assert [xy["a", i][0] for i in range(4)] == pytest.approx([0, 1 / 3, 2 / 3, 1])


def test_equal_times_are_stacked() -> None:
    t = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 2.0]])
    builder = mg.GraphBuilder(fusion_node=False)
    G = mg.viz.to_networkx(builder(mg.MultimodalSample(face=mg.Modality(torch.randn(3, 2), time=t))))
    xy = mg.viz.modality_layout(G)
    assert xy["face", 0][0] == xy["face", 1][0] and xy["face", 0][1] != xy["face", 1][1]


def test_colors_are_stable() -> None:
    assert modality_colors(["text", "image"]) == modality_colors(["image", "text", "text"])
    assert modality_colors(["a"])[FUSION] != modality_colors(["a"])["a"]
