from __future__ import annotations

import networkx as nx
import pytest
import torch

import mmgraph as mg
from mmgraph.graph.builder import FUSION
from tests.viz.conftest import make_model


def test_nodes_and_edges_match_the_graph(samples) -> None:
    model = make_model()
    graph = model.builder(samples[0])
    G = mg.viz.to_networkx(graph, labels={"text": ["a", "b", "c"]})
    assert isinstance(G, nx.DiGraph)
    assert G.number_of_nodes() == sum(graph[t].num_nodes for t in graph.node_types)
    assert G.number_of_edges() == sum(graph[et].num_edges for et in graph.edge_types)
    time = tuple(float(v) for v in samples[0]["text"].time[1])
    assert G.nodes["text", 1] == {"modality": "text", "index": 1, "time": time, "label": "b"}
    image = G.nodes["image", 2]
    assert image["pos"] == tuple(float(v) for v in samples[0]["image"].pos[2]) and image["label"] == "image 2"
    assert G.nodes[FUSION, 0]["modality"] == FUSION and "pos" not in G.nodes[FUSION, 0]
    for et in graph.edge_types:
        src, rel, dst = et
        for i, j in graph[et].edge_index.t().tolist():
            assert G.edges[(src, i), (dst, j)]["edge_type"] == et
            assert G.edges[(src, i), (dst, j)]["relation"] == rel
    assert G.graph["num_layers"] == 0


def test_attention_per_layer_and_head(output) -> None:
    G = mg.viz.to_networkx(output.graph, output.attention, example=1)
    assert G.graph["num_layers"] == 2
    graph, att, _ = mg.viz.select_example(output.graph, output.attention, 1)
    et = ("text", "cross", "audio")
    i, j = att[1][et].edge_index[:, 0].tolist()
    data = G.edges[("text", i), ("audio", j)]
    assert len(data["attention"]) == 2 and len(data["attention"][1]) == 2  # layers, heads
    torch.testing.assert_close(torch.tensor(data["attention"][1]), att[1][et].weight[0])
    assert data["weight"] == pytest.approx(float(att[1][et].weight[0].mean()))


def test_gcn_self_loops_become_self_edges(samples) -> None:
    model = make_model("gcn")
    with torch.no_grad():
        out = model(mg.collate(samples[:1]), return_attention=True)
    G = mg.viz.to_networkx(out.graph, out.attention)
    loops = list(nx.selfloop_edges(G, data=True))
    assert loops and all(d["relation"] == "self" for _, _, d in loops)
    n_intra_nodes = sum(out.graph[t].num_nodes for t in ("text", "image", "audio"))
    assert len(loops) == n_intra_nodes  # one self loop per node of a modality with intra edges


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        ({"text": ["a"]}, r"labels\['text'\]: expected 3 labels \(one per node\), got 1"),
        ({"video": ["a"]}, "labels: modality 'video' is not a node type"),
        (["a"], "labels: expected a {modality"),
    ],
)
def test_label_errors(samples, labels, match: str) -> None:
    graph = make_model().builder(samples[0])
    with pytest.raises(ValueError, match=match):
        mg.viz.to_networkx(graph, labels=labels)
