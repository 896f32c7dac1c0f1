from __future__ import annotations

import pytest
import torch
from torch_geometric.data import HeteroData

import mmgraph as mg
from mmgraph.graph.builder import FUSION
from mmgraph.nn.hetero_gnn import EdgeAttention
from tests.viz.conftest import make_model


def two_node_graph() -> HeteroData:
    g = HeteroData()
    g["a"].x = torch.zeros(1, 1)
    g["b"].x = torch.zeros(2, 1)
    return g


def test_matrix_places_weights_at_target_source(output) -> None:
    mat = mg.viz.attention_matrix(output.graph, output.attention, "text", "audio", layer=0, example=2)
    _, att, _ = mg.viz.select_example(output.graph, output.attention, 2)
    a = att[0][("text", "cross", "audio")]
    assert mat.shape == (3, 1)  # sample 2: 3 audio frames, 1 token
    expected = torch.zeros(3, 1)
    expected[a.edge_index[1], a.edge_index[0]] = a.weight.mean(-1)
    torch.testing.assert_close(mat, expected)


def test_matrix_without_direct_edges_points_to_rollout(output) -> None:
    with pytest.raises(ValueError, match="no.*attention.*'image'.*'audio'.*-1.*attention_rollout"):
        mg.viz.attention_matrix(output.graph, output.attention, "image", "audio", example=0)
    with pytest.raises(ValueError, match="src: expected a node type in"):
        mg.viz.attention_matrix(output.graph, output.attention, "video", "audio", example=0)
    with pytest.raises(ValueError, match="layer:.*index.*2.*layers.*5"):
        mg.viz.attention_matrix(output.graph, output.attention, "text", "audio", layer=5, example=0)


def test_rollout_by_hand() -> None:
    g = two_node_graph()
    # layer 0: b0 attends to a0 (1.0); b1 attends to a0 (0.3) and b0 (0.7); a0 receives nothing
    att = [{
        ("a", "x", "b"): EdgeAttention(torch.tensor([[0, 0], [0, 1]]), torch.tensor([[1.0], [0.3]])),
        ("b", "x", "b"): EdgeAttention(torch.tensor([[0], [1]]), torch.tensor([[0.7]])),
    }]
    mat, nodes = mg.viz.attention_rollout(g, att, residual=0.5)
    assert nodes == [("a", 0), ("b", 0), ("b", 1)]
    expected = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.15, 0.35, 0.5]])
    torch.testing.assert_close(mat, expected)
    mat2, _ = mg.viz.attention_rollout(g, att + att, residual=0.5)
    torch.testing.assert_close(mat2, expected @ expected)


def test_rollout_rows_sum_to_one(output) -> None:
    mat, nodes = mg.viz.attention_rollout(output.graph, output.attention, example=1)
    assert mat.shape == (len(nodes), len(nodes))
    torch.testing.assert_close(mat.sum(-1), torch.ones(len(nodes)))
    with pytest.raises(ValueError, match=r"residual:.*value.*\[0.*1\).*1.0"):
        mg.viz.attention_rollout(output.graph, output.attention, example=1, residual=1.0)


def test_heatmap_panels(output) -> None:
    fig = mg.viz.attention_heatmap(output.graph, output.attention, "text", "audio", example=0,
                                   labels={"text": ["w0", "w1", "w2"]})
    panels = [ax for ax in fig.axes if ax.get_title().startswith("layer")]
    assert [ax.get_title() for ax in panels] == ["layer 0", "layer 1"]
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["w0", "w1", "w2"]
    roll = mg.viz.attention_heatmap(output.graph, output.attention, "image", "audio", example=0, rollout=True)
    (panel,) = [ax for ax in roll.axes if ax.get_title().startswith("attention rollout")]
    assert panel.images[0].get_array().shape == (4, 5)  # 4 audio frames x 5 regions
    with pytest.raises(ValueError, match="one.*axes.*panel.*2.*layers"):
        mg.viz.attention_heatmap(output.graph, output.attention, "text", "audio", example=0, ax=fig.axes[0])


def test_readout_weights_from_rollout_and_attention_readout(samples, output) -> None:
    w = mg.viz.readout_weights(output, example=1)
    assert set(w) == {"text", "image", "audio"}
    assert w["image"].shape == (samples[1]["image"].num_elements,)
    torch.testing.assert_close(sum(v.sum() for v in w.values()), torch.tensor(1.0))
    mat, nodes = mg.viz.attention_rollout(output.graph, output.attention, example=1)
    row = mat[nodes.index((FUSION, 0))]
    assert float(w["text"][0]) == pytest.approx(float(row[nodes.index(("text", 0))] / (1 - row[nodes.index((FUSION, 0))])))

    model = make_model(readout=("attention", "fusion"))
    with torch.no_grad():
        out = model(mg.collate(samples), return_attention=True)
    w = mg.viz.readout_weights(out, example=0)
    torch.testing.assert_close(w["image"] * 3, out.readout["image"][: samples[0]["image"].num_elements])
    fig = mg.viz.plot_readout(w, labels={"text": ["a", "b", "c"]})
    assert len(fig.axes[0].patches) == sum(v.numel() for v in w.values())
    with pytest.raises(ValueError, match="output: expected the GraphFusionOutput"):
        mg.viz.readout_weights(out.out)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"labels\['text'\]: expected 3 labels, got 1"):
        mg.viz.plot_readout(w, labels={"text": ["a"]})


def test_plot_readout_names_groups_when_nodes_are_many() -> None:
    fig = mg.viz.plot_readout({"face": torch.full((45,), 0.01), "text": torch.full((5,), 0.1)})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["face", "text"]
    assert len(fig.axes[0].patches) == 50


def test_one_head(output) -> None:
    _, att, _ = mg.viz.select_example(output.graph, output.attention, 0)
    a = att[1][("text", "cross", "audio")]
    mat = mg.viz.attention_matrix(output.graph, output.attention, "text", "audio", layer=1, example=0, head=1)
    assert torch.equal(mat[a.edge_index[1], a.edge_index[0]], a.weight[:, 1])
    fig = mg.viz.attention_heatmap(output.graph, output.attention, "text", "audio", example=0, layers=[1], head=1)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["layer 1, head 1"]
    with pytest.raises(ValueError, match="head:.*2.*weight.*columns.*2"):
        mg.viz.attention_matrix(output.graph, output.attention, "text", "audio", example=0, head=2)
