"""The convolutions that run over every edge type at once: the per-type convolutions they stack, exactly."""

from __future__ import annotations

import pytest
import torch

from mmgraph.nn import HeteroGNN
from mmgraph.nn.conv import HeteroRelationalConv, TypedConv
from mmgraph.nn.conv.typed import edge_key
from tests.conftest import heads_for

H = 8
TYPES = {("a", "intra", "a"): 3, ("b", "cross", "a"): 0, ("a", "cross", "b"): 1, ("c", "fuse", "a"): 0}
CONVS = ["gcn", "gat", "gatv2", "relational", "relational-gated"]


def _graph(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    sizes = {"a": 6, "b": 4, "c": 2}
    x = {t: torch.randn(n, H, generator=g) for t, n in sizes.items()}
    edges, attrs = {}, {}
    for et, dim in TYPES.items():
        e = 9
        edges[et] = torch.stack([torch.randint(0, sizes[et[0]], (e,), generator=g),
                                 torch.randint(0, sizes[et[2]], (e,), generator=g)])
        if dim:
            attrs[et] = torch.randn(e, dim, generator=g)
    return x, edges, attrs


def _gnn(conv: str, seed: int, **kw) -> HeteroGNN:
    torch.manual_seed(seed)
    gnn = HeteroGNN(["a", "b", "c"], TYPES, H, num_layers=2, conv=conv, norm=None, **heads_for(conv), **kw).eval()
    with torch.no_grad():  # biases start at zero: make them visible
        for name, p in gnn.named_parameters():
            p.add_(0.1 * torch.randn_like(p)) if "bias" in name or "lin2" in name else None
    return gnn


@pytest.mark.parametrize("conv", CONVS)
def test_one_layer_is_the_sum_of_the_per_type_convolutions(conv: str) -> None:
    gnn = _gnn(conv, 0)
    x, edges, attrs = _graph()
    layer = gnn.convs[0]
    cat = torch.cat([x[t] for t in ("a", "b", "c")])
    from mmgraph.graph.layout import flatten_dicts

    layout = flatten_dicts(["a", "b", "c"], {t: v.size(0) for t, v in x.items()}, TYPES, edges, attrs)
    out, _ = layer(cat, layout, layer.slots(layout))
    expected = {t: torch.zeros(v.size(0), H) for t, v in x.items()}
    for et in TYPES:
        ref = layer.per_type(et).eval()
        s, _, d = et
        if conv == "gcn":
            got = ref(x[s] if s == d else (x[s], x[d]), edges[et])
        else:
            got = ref((x[s], x[d]), edges[et], attrs.get(et))
        expected[d] = expected[d] + got
    torch.testing.assert_close(out, torch.cat([expected[t] for t in ("a", "b", "c")]), rtol=1e-5, atol=1e-5)


def test_source_heads_are_the_sum_of_the_per_type_convolutions() -> None:
    """Source heads normalise per (source, edge type): exactly one RelationalConv per type."""
    gnn = _gnn("relational", 0, select_heads=4, source_heads=2)
    x, edges, attrs = _graph()
    layer = gnn.convs[0]
    from mmgraph.graph.layout import flatten_dicts

    layout = flatten_dicts(["a", "b", "c"], {t: v.size(0) for t, v in x.items()}, TYPES, edges, attrs)
    out, _ = layer(torch.cat([x[t] for t in ("a", "b", "c")]), layout, layer.slots(layout))
    expected = {t: torch.zeros(v.size(0), H) for t, v in x.items()}
    for et in TYPES:
        ref = layer.per_type(et).eval()
        assert ref.source_heads == 2
        expected[et[2]] = expected[et[2]] + ref((x[et[0]], x[et[2]]), edges[et], attrs.get(et))
    torch.testing.assert_close(out, torch.cat([expected[t] for t in ("a", "b", "c")]), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="source_heads: only conv='relational'"):
        HeteroGNN(["a", "b", "c"], TYPES, H, conv="gcn", source_heads=1)


@pytest.mark.parametrize("conv", CONVS)
def test_checkpoints_of_one_convolution_per_edge_type_load_exactly(conv: str) -> None:
    """The old layout (``convs.<layer>.<edge_key>.conv.*``) is restacked on load; outputs are unchanged."""
    old = _gnn(conv, 0)
    legacy = {k: v for k, v in old.state_dict().items() if not k.startswith("convs.")}
    for layer, typed in enumerate(old.convs):
        for et in TYPES:
            for name, value in typed.per_type(et).state_dict().items():
                legacy[f"convs.{layer}.{edge_key(et)}.conv.{name}"] = value
    new = _gnn(conv, 1)
    new.load_state_dict(legacy)
    for a, b in zip(old.state_dict().values(), new.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("conv", CONVS)
def test_parameters_are_exactly_those_of_one_convolution_per_edge_type(conv: str) -> None:
    """Stacking adds no parameter: budgets matched against per-type models stay the same."""
    typed = _gnn(conv, 0).convs[0]
    assert isinstance(typed, TypedConv)
    per_type = sum(p.numel() for et in TYPES for p in typed.per_type(et).parameters())
    assert sum(p.numel() for p in typed.parameters()) == per_type


def test_condition_reaches_every_edge_type_through_its_own_weights() -> None:
    gnn = _gnn("relational", 0, condition="c")
    x, edges, attrs = _graph()
    batch = {"a": torch.tensor([0, 0, 0, 1, 1, 1]), "b": torch.tensor([0, 0, 1, 1]), "c": torch.tensor([0, 1])}
    edges = {et: ei for et, ei in edges.items()}
    out = gnn(x, edges, attrs, batch_dict=batch, num_graphs=2)
    x2 = dict(x, c=x["c"] * 2)  # changing only the context changes the messages
    assert not torch.allclose(gnn(x2, edges, attrs, batch_dict=batch, num_graphs=2)["a"], out["a"])


def test_init_edge_scores_sets_one_edge_type_and_survives_reset() -> None:
    conv = HeteroRelationalConv(H, ["a", "b"], {("a", "intra", "a"): 3, ("b", "cross", "a"): 2}, select_heads=2)
    prior = torch.tensor([[0.0, 0.0, -5.0], [0.0, 0.0, 5.0]])
    conv.init_edge_scores(prior, ("a", "intra", "a"))
    conv.reset_parameters()
    torch.testing.assert_close(conv.per_type(("a", "intra", "a")).score_edge.bias.view(2, 3), prior)
    copy = conv.per_type(("a", "intra", "a"))
    copy.reset_parameters()  # the per-type copy keeps the prior too
    torch.testing.assert_close(copy.score_edge.bias.view(2, 3), prior)
    assert not torch.equal(conv.per_type(("b", "cross", "a")).score_edge.bias.view(2, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"expected shape \(select_heads=2, edge_dim=2\)"):
        conv.init_edge_scores(prior, ("b", "cross", "a"))
    with pytest.raises(ValueError, match="edge_type: expected one of"):
        conv.init_edge_scores(prior, ("x", "y", "z"))


def test_init_gates_reaches_every_edge_type_and_survives_reset() -> None:
    conv = HeteroRelationalConv(H, ["a", "b"], {("a", "intra", "a"): 3, ("b", "cross", "a"): 2}, select_heads=2)
    conv.init_gates(-4.0)
    conv.reset_parameters()
    for et in (("a", "intra", "a"), ("b", "cross", "a")):
        copy = conv.per_type(et)
        assert torch.equal(copy.gate.weight, torch.zeros_like(copy.gate.weight)) and copy.gate.bias.item() == -4.0
        copy.reset_parameters()  # the per-type copy keeps the closed gates too
        assert copy.gate_init == -4.0 and copy.gate.bias.item() == -4.0
    with pytest.raises(ValueError, match="init_gates: expected a finite number"):
        conv.init_gates(float("nan"))
