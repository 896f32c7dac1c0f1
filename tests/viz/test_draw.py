from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

import mmgraph as mg
from mmgraph.nn.hetero_gnn import EdgeAttention
from tests.viz.conftest import make_model


def lines(fig: Figure) -> LineCollection:
    (coll,) = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    return coll


def test_top_k_edges_by_attention(output) -> None:
    fig = mg.viz.draw(output.graph, output.attention, example=0, top_k=7, rank="weight")
    coll = lines(fig)
    assert len(coll.get_segments()) == 7
    widths = coll.get_linewidths()
    assert max(widths) == pytest.approx(4.0)  # the strongest edge gets the full width
    _, att, _ = mg.viz.select_example(output.graph, output.attention, 0)
    weights = sorted((float(w) for a in att[-1].values() for w in a.weight.mean(-1)), reverse=True)
    alphas = sorted(coll.get_colors()[:, 3], reverse=True)
    assert alphas[-1] == pytest.approx(0.15 + 0.85 * weights[6] / weights[0], rel=1e-5)


@pytest.mark.parametrize(("rank", "kept"), [("relative", ((1, 0), 0.8)), ("weight", ((0, 1), 1.0))])
def test_rank_relative_to_uniform(rank: str, kept) -> None:
    graph = mg.GraphBuilder()(mg.MultimodalSample(a=torch.randn(4, 2)))
    # node 0 picks node 1 out of three inputs (0.8 = 2.4x uniform); node 1's only input has weight 1
    edge_index = torch.tensor([[1, 2, 3, 0], [0, 0, 0, 1]])
    att = [{("a", "intra", "a"): EdgeAttention(edge_index, torch.tensor([[0.8], [0.1], [0.1], [1.0]]))}]
    fig = mg.viz.draw(graph, att, top_k=1, rank=rank)
    (segment,) = lines(fig).get_segments()
    xy = mg.viz.modality_layout(mg.viz.to_networkx(graph, att))
    (src, dst), weight = kept
    assert np.allclose(segment, [xy["a", src], xy["a", dst]])
    with pytest.raises(ValueError, match="rank:.*'relative'.*'weight'.*'max'"):
        mg.viz.draw(graph, att, rank="max")


def test_without_attention_every_edge_is_drawn(samples) -> None:
    graph = make_model().builder(samples[0])
    fig = mg.viz.draw(graph, tokens=["one", "two", "three"])
    assert len(lines(fig).get_segments()) == sum(graph[et].num_edges for et in graph.edge_types)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"one", "two", "three"} <= texts
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[:4] == ["audio (4)", "image (5)", "text (3)", "fusion (1)"]


def test_draws_into_given_axes_over_an_image(samples) -> None:
    graph = make_model().builder(samples[0])
    fig = Figure()
    ax = fig.add_subplot()
    out = mg.viz.draw(graph, image=torch.rand(3, 20, 30), ax=ax, title="sample 0")
    assert out is fig and len(ax.images) == 1 and ax.get_title() == "sample 0"
    assert ax.images[0].get_array().shape == (20, 30, 3)


def test_readable_at_fifty_plus_nodes() -> None:
    builder = mg.GraphBuilder(intra={"image": mg.edges.Full()}, fusion_node=True)
    model = mg.nn.GraphFusionModel({"image": 4}, hidden=8, out_dim=2, builder=builder, heads=2).eval()
    batch = mg.collate([mg.MultimodalSample(image=mg.Modality(torch.randn(60, 4), pos=torch.rand(60, 2)))])
    with torch.no_grad():
        out = model(batch, return_attention=True)
    fig = mg.viz.draw(out.graph, out.attention)
    assert len(lines(fig).get_segments()) == 40  # default top_k of 3,660 edges


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top_k": 0}, "top_k: expected a positive int or None, got 0"),
        ({"layer": 2}, "layer: expected an index into 2 layers, got 2"),
        ({"tokens": ["a", "b"]}, "tokens: 2 tokens fit no modality"),
        ({"image": torch.rand(2, 3, 4, 5)}, r"image: expected shape \(3, H, W\), \(H, W, 3\) or \(H, W\), got \(2, 3, 4, 5\)"),
        ({"ax": "axes"}, "ax: expected a matplotlib Axes, got str"),
    ],
)
def test_errors(output, kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mg.viz.draw(output.graph, output.attention, example=0, **kwargs)


@pytest.mark.parametrize(
    ("image", "shape"),
    [(np.full((5, 6, 3), 255, dtype=np.uint8), (5, 6, 3)), (torch.ones(3, 5, 6), (5, 6, 3)), (np.zeros((5, 6)), (5, 6))],
)
def test_as_image(image, shape) -> None:
    arr = mg.viz.as_image(image)
    assert arr.shape == shape and arr.dtype == np.float32 and 0.0 <= arr.min() <= arr.max() <= 1.0


@pytest.mark.parametrize("conv", ["gcn", "gatv2", "relational", "typed-relational"])
def test_every_convolution_can_be_drawn_and_explained(samples, conv: str) -> None:
    model = make_model(conv)
    batch = mg.collate(samples[:1])
    fig = mg.viz.explain(model, batch, labels={"text": ["a", "b", "c"]}, heatmap=("text", "audio", False), top_k=10)
    titles = [ax.get_title() for ax in fig.axes]
    assert "what the prediction used" in titles and "modality importance" in titles
    assert len(lines(fig).get_segments()) == 10
