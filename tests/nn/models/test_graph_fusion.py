"""Tests specific to :class:`mmgraph.nn.GraphFusionModel` (the generic model contract is in tests/test_registry.py)."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg
from mmgraph.graph.builder import FUSION
from mmgraph.nn import GraphFusionModel, GraphFusionOutput
from mmgraph.nn.hetero_gnn import EdgeAttention
from tests.conftest import IN_DIMS
from tests.conftest import heads_for

H = 8


def build(seed: int = 0, **kwargs) -> GraphFusionModel:
    torch.manual_seed(seed)
    opts = {"hidden": H, "out_dim": 3, **heads_for(kwargs.get("conv", "gat")), **kwargs}
    return GraphFusionModel(IN_DIMS, **opts).eval()


def check_output(model: GraphFusionModel, batch: mg.MultimodalBatch) -> GraphFusionOutput:
    res = model(batch, return_attention=True)
    assert isinstance(res, GraphFusionOutput)
    plain = model(batch)
    assert res.out.shape == (batch.batch_size, 3) and torch.isfinite(res.out).all()
    torch.testing.assert_close(res.out, plain)

    expected = model.builder.batch(batch)
    assert set(res.graph.edge_types) == set(expected.edge_types)
    assert set(res.graph.node_types) == set(expected.node_types)
    for et in expected.edge_types:
        assert torch.equal(res.graph[et].edge_index, expected[et].edge_index), et
        if "edge_attr" in expected[et]:
            torch.testing.assert_close(res.graph[et].edge_attr, expected[et].edge_attr)
    for nt in batch.modalities:
        assert torch.equal(res.graph[nt].x, expected[nt].x)

    assert len(res.attention) == model.gnn.num_layers
    present = {et for et in model.edge_types if et in res.graph.edge_types}
    for layer in res.attention:
        assert present <= set(layer) <= set(model.edge_types)
        for et, att in layer.items():
            assert isinstance(att, EdgeAttention)
            assert att.weight.size(0) == att.edge_index.size(1)
            if et in present and model.conv != "gcn":
                assert torch.equal(att.edge_index, res.graph[et].edge_index)

    modes = model.readout.modes
    if "attention" in modes:
        assert set(res.readout) == set(model.readout.node_types)
        for t, w in res.readout.items():
            assert w.shape == ((res.graph[t].num_nodes if t in batch else 0),)
    else:
        assert res.readout == {}
    return res


READOUTS = ["mean", ("max", "sum"), ("attention", "fusion"), ("mean", "max", "sum", "attention", "fusion")]


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("conv", ["gcn", "gat", "gatv2"])
def test_convs_and_readouts(conv: str, readout, batch: mg.MultimodalBatch) -> None:
    model = build(conv=conv, readout=readout, num_layers=2)
    assert model.conv == conv and model.gnn.conv_name == conv
    assert model.readout.modes == ((readout,) if isinstance(readout, str) else tuple(readout))
    check_output(model, batch)


@pytest.mark.parametrize("conv", ["gcn", "gat"])
def test_rich_builder(conv: str, rich_builder: mg.GraphBuilder, batch: mg.MultimodalBatch) -> None:
    model = build(conv=conv, builder=rich_builder, readout=("mean", "attention", "fusion"))
    assert model.edge_types == rich_builder.edge_types(IN_DIMS)
    assert any(dim > 0 for dim in model.edge_types.values())
    res = check_output(model, batch)
    assert all(et in res.graph.edge_types for et in model.edge_types)


def test_edge_attributes_reach_the_gnn(rich_builder: mg.GraphBuilder, samples) -> None:
    # SpatialKNN on image carries the relative position as edge_attr. Scaling all positions keeps
    # the k-NN edges (and every other input) but changes the attributes, so the output must change.
    model = build(conv="gat", builder=rich_builder)
    batch = mg.collate(samples)
    out = model(batch)
    scaled = mg.collate(
        [
            mg.MultimodalSample(
                {
                    name: mg.Modality(s[name].x, pos=s[name].pos * 0.5) if name == "image" else s[name]
                    for name in s
                }
            )
            for s in samples
        ]
    )
    g1, g2 = rich_builder.batch(batch), rich_builder.batch(scaled)
    et = ("image", "intra", "image")
    assert torch.equal(g1[et].edge_index, g2[et].edge_index)
    assert not torch.allclose(model(scaled), out)


def test_default_builder_is_complete(batch: mg.MultimodalBatch) -> None:
    model = build()
    names = sorted(IN_DIMS)
    assert isinstance(model.builder, mg.GraphBuilder) and model.builder.fusion_node
    assert model.edge_types == mg.GraphBuilder.complete(names).edge_types(names)
    assert model.node_types == names + [FUSION]
    assert model.readout.modes == ("mean", "fusion")
    assert model.fusion is not None and model.fusion.shape == (H,)
    res = check_output(model, batch)
    expected = mg.GraphBuilder.complete(names).batch(batch)
    for et in expected.edge_types:
        assert torch.equal(res.graph[et].edge_index, expected[et].edge_index)


def test_no_fusion_node_default_readout_is_mean(batch: mg.MultimodalBatch) -> None:
    builder = mg.GraphBuilder(intra={"text": mg.edges.Sequential(1)}, cross={("audio", "image"): mg.edges.Full()})
    model = build(builder=builder)
    assert model.readout.modes == ("mean",)
    assert model.fusion is None and FUSION not in model.node_types
    assert model.readout.out_dim == H * len(IN_DIMS)
    check_output(model, batch)


def test_graph_method(batch: mg.MultimodalBatch, rich_builder: mg.GraphBuilder) -> None:
    model = build(builder=rich_builder)
    g = model.graph(batch)
    expected = rich_builder.batch(batch)
    assert set(g.edge_types) == set(expected.edge_types)
    for et in expected.edge_types:
        assert torch.equal(g[et].edge_index, expected[et].edge_index)
    with pytest.raises(ValueError, match="unknown modality 'audio'"):
        GraphFusionModel({"image": 5, "text": 6}, hidden=H).graph(batch)


def test_builder_with_unknown_modality() -> None:
    with pytest.raises(ValueError, match=r"\['video'\].*not in in_dims"):
        GraphFusionModel(IN_DIMS, hidden=H, builder=mg.GraphBuilder(intra={"video": mg.edges.Full()}))
    with pytest.raises(ValueError, match=r"\['depth'\].*not in in_dims"):
        GraphFusionModel(IN_DIMS, hidden=H, builder=mg.GraphBuilder(cross={("text", "depth"): mg.edges.Full()}))


@pytest.mark.parametrize("builder", ["complete", {"text": 1}, object()])
def test_builder_not_a_graph_builder(builder) -> None:
    with pytest.raises(ValueError, match="builder: expected a mmgraph.GraphBuilder"):
        GraphFusionModel(IN_DIMS, hidden=H, builder=builder)


def test_fusion_readout_without_fusion_node(batch: mg.MultimodalBatch) -> None:
    builder = mg.GraphBuilder(intra={"text": mg.edges.Full()}, fusion_node=False)
    with pytest.raises(ValueError, match="readout.*mode.*'fusion'.*needs.*'fusion'"):
        build(builder=builder, readout=("mean", "fusion"))


def test_registered_models_fix_conv() -> None:
    for conv in ("gcn", "gat", "gatv2"):
        model = mg.get_model(f"graph-{conv}", in_dims=IN_DIMS, hidden=H, out_dim=2, **heads_for(conv))
        assert isinstance(model, GraphFusionModel) and model.conv == conv
    with pytest.raises(ValueError, match="graph-gat fixes conv='gat'"):
        mg.get_model("graph-gat", in_dims=IN_DIMS, conv="gcn")
    with pytest.raises(ValueError, match="graph-gcn fixes conv='gcn'"):
        mg.get_model("graph-gcn", in_dims=IN_DIMS, conv="gcn")


def test_gnn_errors_propagate() -> None:
    with pytest.raises(ValueError, match="heads: must divide hidden"):
        GraphFusionModel(IN_DIMS, hidden=H, heads=3, conv="gat")
    with pytest.raises(ValueError, match="conv: expected one of"):
        GraphFusionModel(IN_DIMS, hidden=H, conv="sage")
    with pytest.raises(ValueError, match="readout mode"):
        GraphFusionModel(IN_DIMS, hidden=H, readout="median")
    with pytest.raises(ValueError, match="task: expected one of"):
        GraphFusionModel(IN_DIMS, hidden=H, task="ranking")


@pytest.mark.parametrize("conv", ["gcn", "gat"])
def test_missing_positioned_modality(conv: str, rich_builder: mg.GraphBuilder, samples) -> None:
    model = build(conv=conv, builder=rich_builder, readout=("mean", "attention", "fusion"))
    # image (needed by SpatialKNN) absent from the whole batch
    whole = mg.collate(samples).without("image")
    res = check_output(model, whole)
    assert ("image", "intra", "image") not in res.graph.edge_types
    assert ("image", "intra", "image") in res.attention[0]  # still reported, with no edges
    assert res.attention[0][("image", "intra", "image")].weight.size(0) == 0
    # image absent for one sample only
    partial = mg.collate([samples[0].without("image")] + samples[1:])
    check_output(model, partial)


def test_norm_batch_trains(batch: mg.MultimodalBatch) -> None:
    model = build(norm="batch", conv="gat").train()
    out = model(batch)
    assert torch.isfinite(out).all()
    out.square().sum().backward()
    assert model.fusion.grad is not None and model.fusion.grad.abs().sum() > 0


def test_fusion_parameter_matters(batch: mg.MultimodalBatch) -> None:
    model = build()
    out = model(batch)
    with torch.no_grad():
        model.fusion.add_(1.0)
    assert not torch.allclose(model(batch), out)


def test_flat_readout_tells_nodes_apart_by_position() -> None:
    gen = torch.Generator().manual_seed(0)
    samples = [mg.MultimodalSample(image=torch.randn(4, 3, generator=gen), question=torch.randn(2, 2, generator=gen),
                                   y=0) for _ in range(3)]
    swapped = [mg.MultimodalSample(image=s["image"].x.flip(0), question=s["question"].x, y=0) for s in samples]
    dims = {"image": 3, "question": 2}
    torch.manual_seed(0)
    pooled = GraphFusionModel(dims, hidden=8, out_dim=2, conv="relational").eval()
    torch.manual_seed(0)
    flat = GraphFusionModel(dims, hidden=8, out_dim=2, conv="relational", flat={"image": 4}).eval()
    # The complete graph and pooled readouts are blind to element order; the flat readout is not.
    torch.testing.assert_close(pooled(mg.collate(samples)), pooled(mg.collate(swapped)), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(flat(mg.collate(samples)), flat(mg.collate(swapped)), atol=1e-3)
    assert flat.readout.out_dim == pooled.readout.out_dim + 4 * 8 and "flat={'image': 4}" in repr(flat)
    with pytest.raises(ValueError, match=r"flat\['image'\] expects 5 nodes per graph"):
        GraphFusionModel(dims, hidden=8, out_dim=2, flat={"image": 5})(mg.collate(samples))


@pytest.mark.parametrize("flat_from", ["input", "output"])
def test_flat_from_chooses_the_states_the_flat_readout_reads(flat_from: str) -> None:
    gen = torch.Generator().manual_seed(1)
    batch = mg.collate([mg.MultimodalSample(image=torch.randn(4, 3, generator=gen),
                                            question=torch.randn(2, 2, generator=gen), y=0) for _ in range(3)])
    torch.manual_seed(0)
    model = GraphFusionModel({"image": 3, "question": 2}, hidden=8, out_dim=2, conv="relational",
                             flat={"image": 4}, flat_from=flat_from).eval()
    seen: list[torch.Tensor] = []
    model.head.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    model(batch)
    gnn = model.gnn.forward_layout
    model.gnn.forward_layout = lambda x, layout, **kw: gnn(x, layout, **kw) + 5.0  # another GNN output
    model(batch)
    pooled, flat = model.readout.out_dim - 4 * 8, slice(model.readout.out_dim - 4 * 8, None)
    assert not torch.allclose(seen[0][:, :pooled], seen[1][:, :pooled])  # the pooled parts read the GNN's output
    # the flat part reads the regions as they enter the GNN ("input") or as they leave it ("output")
    assert torch.equal(seen[0][:, flat], seen[1][:, flat]) == (flat_from == "input")
    assert ("flat_from='input'" in repr(model)) == (flat_from == "input")


def test_flat_from_errors() -> None:
    with pytest.raises(ValueError, match=r"flat_from: expected one of \['output', 'input'\], got 'middle'"):
        GraphFusionModel({"image": 3}, hidden=8, flat={"image": 4}, flat_from="middle")
    with pytest.raises(ValueError, match=r"flat_from='input' needs flat="):
        GraphFusionModel({"image": 3}, hidden=8, flat_from="input")


def test_pool_chooses_the_modalities_the_head_pools() -> None:
    model = GraphFusionModel({"image": 3, "question": 2}, hidden=8, out_dim=2, conv="relational", readout="mean",
                             flat={"image": 4}, flat_from="input", pool=["question"])
    assert model.readout.node_types == ["question"] and model.readout.out_dim == 8 * (1 + 4)
    assert "pool=['question']" in repr(model) and "pool" not in repr(GraphFusionModel({"image": 3}, hidden=8))
    batch = mg.collate([mg.MultimodalSample(image=torch.randn(4, 3), question=torch.randn(2, 2), y=0)] * 2)
    assert model(batch).shape == (2, 2)


def test_gate_init_reaches_the_registered_graph_relational() -> None:
    from mmgraph.nn.conv import HeteroRelationalConv

    model = mg.get_model("graph-relational", in_dims=IN_DIMS, hidden=16, out_dim=2, gate_init=-10.0)
    model.reset_parameters()
    convs = [m for m in model.modules() if isinstance(m, HeteroRelationalConv)]
    assert convs and all(c.gate_init == -10.0 and torch.all(c.heads_w[:, 0, -1] == -10.0) for c in convs)
    with pytest.raises(ValueError, match=r"gate_init: only a conv with edge gates.*got conv='gat'"):
        mg.get_model("graph-gat", in_dims=IN_DIMS, hidden=16, out_dim=2, gate_init=-10.0)


def test_select_and_source_heads_reach_the_registered_graph_relational() -> None:
    from mmgraph.nn.conv import HeteroRelationalConv

    model = mg.get_model("graph-relational", in_dims=IN_DIMS, hidden=16, out_dim=2, select_heads=4, source_heads=1)
    convs = [m for m in model.modules() if isinstance(m, HeteroRelationalConv)]
    assert convs and all((c.heads, c.source_heads) == (4, 1) for c in convs)
    with pytest.raises(ValueError, match=r"select_heads: only conv='relational' has softmax heads, got conv='gat'"):
        mg.get_model("graph-gat", in_dims=IN_DIMS, hidden=16, out_dim=2, select_heads=2)
    with pytest.raises(ValueError, match=r"source_heads: only conv='relational' has softmax heads, got conv='gat'"):
        mg.get_model("graph-gat", in_dims=IN_DIMS, hidden=16, out_dim=2, source_heads=1)
