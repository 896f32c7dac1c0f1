"""Tests for :class:`mmgraph.nn.HeteroGNN` against the convolutions it wraps, applied by hand."""

from __future__ import annotations

from typing import Iterator

import pytest
import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from mmgraph.nn.conv.gcn import GCNLayer
from mmgraph.nn.conv.typed_relational import TypedRelationalConv
from mmgraph.nn.hetero_gnn import CONVS, EdgeAttention, HeteroGNN, edge_key, register_conv
from tests.conftest import heads_for

H = 8
CONV_NAMES = ["gcn", "gat", "gatv2", "relational", "relational-gated"]
AA = ("a", "intra", "a")
BA = ("b", "cross", "a")
AB = ("a", "cross", "b")


def identity(x: Tensor) -> Tensor:
    return x


# ---------------------------------------------------------------- helpers
def rand_x(sizes: dict[str, int], seed: int = 0, width: int = H) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {t: torch.randn(n, width, generator=g) for t, n in sizes.items()}


def rand_edges(n_src: int, n_dst: int, num: int, seed: int = 1, skip_dst: tuple[int, ...] = ()) -> Tensor:
    """Random edges; targets listed in ``skip_dst`` get no incoming edge."""
    g = torch.Generator().manual_seed(seed)
    allowed = torch.tensor([i for i in range(n_dst) if i not in skip_dst])
    src = torch.randint(0, n_src, (num,), generator=g)
    dst = allowed[torch.randint(0, len(allowed), (num,), generator=g)]
    return torch.stack([src, dst])


def plain(node_types, edge_types, conv="gcn", num_layers=1, **kw) -> HeteroGNN:
    torch.manual_seed(0)
    opts = dict(conv=conv, num_layers=num_layers, residual=False, norm=None, act=identity, dropout=0.0, **heads_for(conv))
    opts.update(kw)
    return HeteroGNN(node_types, edge_types, H, **opts).eval()


def randomize_biases(module: nn.Module, seed: int = 3) -> None:
    """Biases start at zero; make them nonzero so that tests see them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g))


def inner(gnn: HeteroGNN, et, layer: int = 0) -> nn.Module:
    """The PyG/mmgraph convolution of edge type ``et`` in ``layer`` (a copy of its weights)."""
    return gnn.convs[layer].per_type(et).eval()


def apply_inner(gnn: HeteroGNN, et, x: dict[str, Tensor], ei: Tensor, layer: int = 0, attr=None) -> Tensor:
    src, _, dst = et
    conv = inner(gnn, et, layer)
    if isinstance(conv, GCNLayer):
        return conv(x[src] if src == dst else (x[src], x[dst]), ei)
    return conv((x[src], x[dst]), ei, edge_attr=attr)


# ---------------------------------------------------------------- the stack adds nothing hidden
def test_edge_key() -> None:
    assert edge_key(("text", "cross", "image")) == "text__cross__image"


@pytest.mark.parametrize("act", [identity, torch.tanh])
def test_single_gcn_layer_equals_gcn_layer(act) -> None:
    gnn = plain(["a"], {AA: 0}, act=act)
    randomize_biases(gnn)
    x = rand_x({"a": 7})
    ei = rand_edges(7, 7, 15)
    ref = GCNLayer(H, H, act=None, add_self_loops=True)
    ref.load_state_dict(inner(gnn, AA).state_dict())
    out = gnn(x, {AA: ei})
    assert set(out) == {"a"}
    torch.testing.assert_close(out["a"], act(ref(x["a"], ei)))


def test_two_gcn_layers_compose() -> None:
    gnn = plain(["a"], {AA: 0}, num_layers=2)
    randomize_biases(gnn)
    x = rand_x({"a": 6})
    ei = rand_edges(6, 6, 12)
    h1 = inner(gnn, AA, 0)(x["a"], ei)
    h2 = inner(gnn, AA, 1)(h1, ei)
    torch.testing.assert_close(gnn(x, {AA: ei})["a"], h2)


@pytest.mark.parametrize("conv", CONV_NAMES)
def test_messages_of_two_edge_types_are_summed(conv: str) -> None:
    gnn = plain(["a", "b"], {AA: 0, BA: 0}, conv=conv)
    randomize_biases(gnn)
    x = rand_x({"a": 6, "b": 4})
    ei_aa, ei_ba = rand_edges(6, 6, 10, seed=1), rand_edges(4, 6, 9, seed=2)
    out = gnn(x, {AA: ei_aa, BA: ei_ba})
    expected = apply_inner(gnn, AA, x, ei_aa) + apply_inner(gnn, BA, x, ei_ba)
    torch.testing.assert_close(out["a"], expected)
    # each term on its own differs from the sum
    assert not torch.allclose(out["a"], apply_inner(gnn, AA, x, ei_aa))
    assert not torch.allclose(out["a"], apply_inner(gnn, BA, x, ei_ba))


def test_cross_gcn_is_bipartite_without_self_loops() -> None:
    gnn = plain(["a", "b"], {BA: 0})
    assert not inner(gnn, BA).add_self_loops
    assert inner(plain(["a"], {AA: 0}), AA).add_self_loops


@pytest.mark.parametrize("norm", [None, "layer"])
@pytest.mark.parametrize("conv", ["gcn", "gat"])
def test_residual_adds_the_input(conv: str, norm) -> None:
    x = rand_x({"a": 5, "b": 3})
    edges = {AA: rand_edges(5, 5, 8), BA: rand_edges(3, 5, 6, seed=2)}
    kw = dict(conv=conv, norm=norm, act=torch.nn.functional.gelu)
    res = plain(["a", "b"], {AA: 0, BA: 0}, residual=True, **kw)
    nores = plain(["a", "b"], {AA: 0, BA: 0}, residual=False, **kw)
    randomize_biases(res)
    nores.load_state_dict(res.state_dict())
    out_res, out_nores = res(x, edges), nores(x, edges)
    torch.testing.assert_close(out_res["a"], x["a"] + out_nores["a"])
    assert not torch.allclose(out_res["a"], out_nores["a"])


@pytest.mark.parametrize("conv", ["gcn", "relational"])
def test_norm_first_normalises_inputs_not_messages(conv: str) -> None:
    x = rand_x({"a": 5, "b": 3})
    edges = {AA: rand_edges(5, 5, 8), BA: rand_edges(3, 5, 6, seed=2)}
    gnn = plain(["a", "b"], {AA: 0, BA: 0}, conv=conv, norm="layer", norm_first=True, residual=True)
    randomize_biases(gnn)
    with torch.no_grad():  # non-trivial affine parameters in the norms
        for p in gnn.norms.parameters():
            p.mul_(1.5).add_(0.1)
    out = gnn(x, edges)
    xn = {t: gnn.norms[0][t](x[t]) for t in x}  # every node type is normalised, b too
    want = x["a"] + apply_inner(gnn, AA, xn, edges[AA]) + apply_inner(gnn, BA, xn, edges[BA])
    torch.testing.assert_close(out["a"], want)
    torch.testing.assert_close(out["b"], x["b"])  # b receives nothing: unchanged


def test_norm_first_keeps_the_size_of_summed_messages() -> None:
    """Post-norm maps k identical messages to the same state for every k; pre-norm does not."""
    for norm_first, differ in ((False, False), (True, True)):
        gnn = plain(["a", "b"], {BA: 0}, conv="gcn", norm="layer", norm_first=norm_first, residual=False)
        x = {"a": torch.zeros(2, H), "b": torch.ones(3, H) + torch.arange(H) / H}
        one = torch.tensor([[0], [0]])
        three = torch.tensor([[0, 1, 2], [1, 1, 1]])
        out1, out3 = gnn(x, {BA: one})["a"][0], gnn(x, {BA: three})["a"][1]
        assert torch.allclose(out1, out3, atol=1e-5) != differ


@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("conv", CONV_NAMES)
def test_node_type_without_incoming_edges_keeps_state(conv: str, residual: bool) -> None:
    gnn = plain(["a", "b"], {AA: 0, BA: 0}, conv=conv, num_layers=3, residual=residual, norm="layer")
    x = rand_x({"a": 5, "b": 4})
    out = gnn(x, {AA: rand_edges(5, 5, 8), BA: rand_edges(4, 5, 6)})
    assert gnn.receivers == ["a"]
    assert torch.equal(out["b"], x["b"])
    assert not torch.allclose(out["a"], x["a"])


def test_input_dict_not_modified() -> None:
    gnn = plain(["a"], {AA: 0})
    x = rand_x({"a": 4})
    before = x["a"].clone()
    gnn(x, {AA: rand_edges(4, 4, 5)})
    assert torch.equal(x["a"], before)


# ---------------------------------------------------------------- attention
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("conv", CONV_NAMES)
def test_return_attention_structure(conv: str, num_layers: int) -> None:
    ets = {AA: 0, BA: 0, AB: 0}
    gnn = plain(["a", "b"], ets, conv=conv, num_layers=num_layers)
    x = rand_x({"a": 5, "b": 4})
    edges = {AA: rand_edges(5, 5, 7), BA: rand_edges(4, 5, 6, seed=2), AB: rand_edges(5, 4, 6, seed=3)}
    out, att = gnn(x, edges, return_attention=True)
    plain_out = gnn(x, edges)
    for t in out:
        torch.testing.assert_close(out[t], plain_out[t])
    assert isinstance(att, list) and len(att) == num_layers
    for layer in att:
        assert set(layer) == set(ets)
        for et, a in layer.items():
            assert isinstance(a, EdgeAttention)
            assert a.edge_index.dim() == 2 and a.edge_index.size(0) == 2
            assert a.weight.dim() == 2 and a.weight.size(0) == a.edge_index.size(1)
            assert a.weight.size(1) == (1 if conv in ("gcn", "relational-gated") else 2)  # heads; gate + softmax


@pytest.mark.parametrize("heads", [1, 2, 4])
@pytest.mark.parametrize("conv", ["gat", "gatv2"])
def test_gat_weights_sum_to_one_per_target(conv: str, heads: int) -> None:
    gnn = plain(["a", "b"], {AA: 0, BA: 0}, conv=conv, heads=heads, num_layers=2)
    x = rand_x({"a": 6, "b": 4})
    sizes = {"a": 6, "b": 4}
    edges = {AA: rand_edges(6, 6, 12, skip_dst=(0, 5)), BA: rand_edges(4, 6, 8, seed=2, skip_dst=(1,))}
    _, att = gnn(x, edges, return_attention=True)
    for layer in att:
        for et, a in layer.items():
            ei = edges[et]
            assert torch.equal(a.edge_index, ei)  # no self loops added
            assert a.weight.shape == (ei.size(1), heads)
            assert (a.weight >= 0).all()
            n_dst = sizes[et[2]]
            total = scatter(a.weight, ei[1], dim=0, dim_size=n_dst, reduce="sum")
            has_in = torch.zeros(n_dst, dtype=torch.bool)
            has_in[ei[1]] = True
            torch.testing.assert_close(total[has_in], torch.ones(int(has_in.sum()), heads))
            assert (total[~has_in] == 0).all() and (~has_in).any()


def test_gcn_weights_are_normalized_edges() -> None:
    gnn = plain(["a", "b"], {AA: 0, BA: 0}, num_layers=2)
    x = rand_x({"a": 6, "b": 4})
    edges = {AA: rand_edges(6, 6, 10), BA: rand_edges(4, 6, 7, seed=2)}
    _, att = gnn(x, edges, return_attention=True)
    for layer_att in att:
        ei, coeff = GCNLayer(H, H).normalized_edges(edges[AA], 6)
        assert torch.equal(layer_att[AA].edge_index, ei)
        torch.testing.assert_close(layer_att[AA].weight, coeff.unsqueeze(-1))
        ei, coeff = GCNLayer(H, H, add_self_loops=False).normalized_edges(edges[BA], (4, 6))
        assert torch.equal(layer_att[BA].edge_index, ei)
        torch.testing.assert_close(layer_att[BA].weight, coeff.unsqueeze(-1))


def test_gcn_weights_by_hand() -> None:
    # path 0 -> 1 -> 2 (one direction): in-degrees with self loops are 1, 2, 2
    gnn = plain(["a"], {AA: 0})
    ei = torch.tensor([[0, 1], [1, 2]])
    _, att = gnn(rand_x({"a": 3}), {AA: ei}, return_attention=True)
    a = att[0][AA]
    assert a.edge_index.tolist() == [[0, 1, 0, 1, 2], [1, 2, 0, 1, 2]]
    d = torch.tensor([1.0, 2.0, 2.0]).rsqrt()
    expected = torch.stack([d[1] * d[0], d[2] * d[1], d[0] ** 2, d[1] ** 2, d[2] ** 2]).unsqueeze(-1)
    torch.testing.assert_close(a.weight, expected)


# ---------------------------------------------------------------- edge attributes
@pytest.mark.parametrize("conv", ["gat", "gatv2", "relational"])
def test_edge_attr_changes_output(conv: str) -> None:
    gnn = plain(["a", "b"], {AA: 3, BA: 2}, conv=conv)
    x = rand_x({"a": 5, "b": 4})
    edges = {AA: rand_edges(5, 5, 9), BA: rand_edges(4, 5, 7, seed=2)}
    g = torch.Generator().manual_seed(5)
    attrs = {AA: torch.randn(9, 3, generator=g), BA: torch.randn(7, 2, generator=g)}
    base = gnn(x, edges, attrs)["a"]
    for et in (AA, BA):
        changed = dict(attrs)
        changed[et] = attrs[et] + 1.0
        assert not torch.allclose(gnn(x, edges, changed)["a"], base), et
    # the attributes are what the inner convolutions receive
    expected = apply_inner(gnn, AA, x, edges[AA], attr=attrs[AA]) + apply_inner(gnn, BA, x, edges[BA], attr=attrs[BA])
    torch.testing.assert_close(base, expected)


@pytest.mark.parametrize("conv", ["gat", "gatv2", "relational"])
def test_missing_edge_attr_is_zeros(conv: str) -> None:
    gnn = plain(["a", "b"], {AA: 3, BA: 2}, conv=conv)
    x = rand_x({"a": 5, "b": 4})
    edges = {AA: rand_edges(5, 5, 9), BA: rand_edges(4, 5, 7, seed=2)}
    g = torch.Generator().manual_seed(5)
    attr_ba = torch.randn(7, 2, generator=g)
    zeros = {AA: torch.zeros(9, 3), BA: torch.zeros(7, 2)}
    torch.testing.assert_close(gnn(x, edges)["a"], gnn(x, edges, zeros)["a"])
    torch.testing.assert_close(gnn(x, edges, {BA: attr_ba})["a"], gnn(x, edges, {AA: zeros[AA], BA: attr_ba})["a"])
    # and zeros are not the same as some other attribute
    assert not torch.allclose(gnn(x, edges)["a"], gnn(x, edges, {AA: torch.ones(9, 3), BA: attr_ba})["a"])


# ---------------------------------------------------------------- empty graphs
@pytest.mark.parametrize("conv", CONV_NAMES)
def test_empty_edge_sets(conv: str) -> None:
    gnn = plain(["a", "b"], {AA: 2, BA: 0}, conv=conv)
    randomize_biases(gnn)
    x = rand_x({"a": 4, "b": 3})
    empty = torch.empty(2, 0, dtype=torch.long)
    out_given, att = gnn(x, {AA: empty, BA: empty}, {AA: torch.empty(0, 2)}, return_attention=True)
    out_absent = gnn(x, {})  # edge types missing from the dict: no edges
    torch.testing.assert_close(out_given["a"], out_absent["a"])
    assert out_given["a"].shape == (4, H) and torch.isfinite(out_given["a"]).all()
    assert att[0][BA].weight.size(0) == 0
    if conv == "gcn":
        # only the self loops (coefficient 1) of the intra type, nothing from b: x W_aa + b_aa + b_ba
        c_aa, c_ba = inner(gnn, AA), inner(gnn, BA)
        torch.testing.assert_close(out_given["a"], x["a"] @ c_aa.weight + c_aa.bias + c_ba.bias)
    elif conv.startswith("relational"):
        # messages exist only on edges: no edges, no output
        torch.testing.assert_close(out_given["a"], torch.zeros(4, H))
    else:
        # no incoming edges: only the biases
        expected = inner(gnn, AA).bias + inner(gnn, BA).bias
        torch.testing.assert_close(out_given["a"], expected.expand(4, H))


@pytest.mark.parametrize("norm", [None, "layer", "batch"])
@pytest.mark.parametrize("conv", CONV_NAMES)
def test_node_type_with_zero_nodes(conv: str, norm) -> None:
    ets = {AA: 0, BA: 2, AB: 2, ("b", "intra", "b"): 0}
    gnn = plain(["a", "b"], ets, conv=conv, norm=norm, residual=True, num_layers=2)
    gnn.train(norm == "batch")
    x = rand_x({"a": 5, "b": 0})
    empty = torch.empty(2, 0, dtype=torch.long)
    edges = {AA: rand_edges(5, 5, 8), BA: empty, AB: empty, ("b", "intra", "b"): empty}
    out, att = gnn(x, edges, return_attention=True)
    assert out["b"].shape == (0, H)
    assert out["a"].shape == (5, H) and torch.isfinite(out["a"]).all()
    assert len(att) == 2 and set(att[0]) == set(ets)
    again = gnn(x, {AA: edges[AA]})  # b's edge types absent altogether: the same
    torch.testing.assert_close(again["a"], out["a"])
    assert again["b"].shape == (0, H)


# ---------------------------------------------------------------- batch norm
@pytest.mark.parametrize("conv", CONV_NAMES)
def test_batch_norm_in_train_mode(conv: str) -> None:
    gnn = plain(["a", "b"], {AA: 0, BA: 0}, conv=conv, norm="batch", act=torch.relu)
    gnn.train()
    norm = gnn.norms[0]["a"]
    assert isinstance(norm, nn.BatchNorm1d)
    before = norm.running_mean.clone()
    x = rand_x({"a": 6, "b": 4})
    edges = {AA: rand_edges(6, 6, 10), BA: rand_edges(4, 6, 7, seed=2)}
    out = gnn(x, edges)
    assert out["a"].shape == (6, H) and torch.isfinite(out["a"]).all()
    assert not torch.equal(norm.running_mean, before)
    # train mode normalises with batch statistics: relu(normalized) has per-feature mean > 0 and the
    # pre-activation has zero mean per feature
    ident = plain(["a", "b"], {AA: 0, BA: 0}, conv=conv, norm="batch").train()
    ident.load_state_dict(gnn.state_dict())
    pre = ident(x, edges)["a"]
    torch.testing.assert_close(pre.mean(0), torch.zeros(H), atol=1e-5, rtol=0)
    gnn.eval()
    assert torch.isfinite(gnn(x, edges)["a"]).all()


# ---------------------------------------------------------------- errors
def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="conv: expected one of .*'nope'"):
        HeteroGNN(["a"], {AA: 0}, H, conv="nope")
    with pytest.raises(ValueError, match="heads: must divide hidden"):
        HeteroGNN(["a"], {AA: 0}, H, conv="gat", heads=3)
    with pytest.raises(ValueError, match="heads: must divide hidden"):
        HeteroGNN(["a"], {AA: 0}, H, conv="gatv2", heads=0)
    with pytest.raises(ValueError, match="norm: expected one of .*'group'"):
        HeteroGNN(["a"], {AA: 0}, H, norm="group")
    for bad in (0, -1, 1.0):
        with pytest.raises(ValueError, match="num_layers: expected a positive int"):
            HeteroGNN(["a"], {AA: 0}, H, num_layers=bad)
    with pytest.raises(ValueError, match="refers to a node type"):
        HeteroGNN(["a"], {BA: 0}, H)
    with pytest.raises(ValueError, match="refers to a node type"):
        HeteroGNN(["a"], {AB: 0}, H)
    for conv in ("gcn", "relational", "typed-relational"):  # convs without heads refuse them
        with pytest.raises(ValueError, match="heads.*no attention heads"):
            HeteroGNN(["a"], {AA: 0}, H, conv=conv, heads=3)


def test_forward_errors() -> None:
    gnn = plain(["a", "b"], {AA: 0, BA: 0})
    x = rand_x({"a": 4, "b": 3})
    with pytest.raises(ValueError, match="missing node type 'b'"):
        gnn({"a": x["a"]}, {})
    with pytest.raises(ValueError, match=r"x_dict\['a'\]:.*\(num_nodes.*8\).*\(4.*5\)"):
        gnn({"a": torch.randn(4, 5), "b": x["b"]}, {})
    with pytest.raises(ValueError, match=r"x_dict\['b'\]: expected shape"):
        gnn({"a": x["a"], "b": torch.randn(3 * H)}, {})


# ---------------------------------------------------------------- conditioning on a node type
@pytest.mark.parametrize("conv", ["relational", "relational-gated"])
def test_condition_passes_the_per_graph_mean_as_context(conv: str) -> None:
    """One layer with condition="b": every a-a message sees the mean of b in its graph."""
    gnn = plain(["a", "b"], {AA: 0}, conv=conv, condition="b")
    randomize_biases(gnn)
    x = rand_x({"a": 5, "b": 5})
    ei = torch.tensor([[0, 1, 2, 3, 4, 3], [1, 0, 0, 4, 3, 4]])  # graph 0: a0-a2, graph 1: a3-a4
    batch = {"a": torch.tensor([0, 0, 0, 1, 1]), "b": torch.tensor([0, 1, 1, 1, 0])}
    out = gnn(x, {AA: ei}, batch_dict=batch, num_graphs=2)
    means = torch.stack([x["b"][[0, 4]].mean(0), x["b"][[1, 2, 3]].mean(0)])
    want = inner(gnn, AA)((x["a"], x["a"]), ei, context=means[batch["a"]])
    torch.testing.assert_close(out["a"], want)
    # the context matters: other b states, other output
    x2 = dict(x, b=x["b"] + 1.0)
    assert not torch.allclose(gnn(x2, {AA: ei}, batch_dict=batch, num_graphs=2)["a"], out["a"])


def test_condition_graph_without_conditioning_nodes_gets_zeros() -> None:
    gnn = plain(["a", "b"], {AA: 0}, conv="relational", condition="b")
    x = rand_x({"a": 2, "b": 1})
    ei = torch.tensor([[0, 1], [1, 0]])
    batch = {"a": torch.tensor([0, 1]), "b": torch.tensor([0])}
    out = gnn(x, {AA: ei}, batch_dict=batch, num_graphs=2)
    context = torch.stack([x["b"][0], torch.zeros(H)])
    torch.testing.assert_close(out["a"], inner(gnn, AA)((x["a"], x["a"]), ei, context=context))


def test_typed_condition_matches_typed_conv_with_context() -> None:
    gnn = plain(["a", "b"], {AA: 0}, conv="typed-relational", condition="b")
    x = rand_x({"a": 3, "b": 2})
    ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
    batch = {"a": torch.tensor([0, 0, 1]), "b": torch.tensor([1, 0])}
    out = gnn(x, {AA: ei}, batch_dict=batch, num_graphs=2)
    ctx = torch.cat([x["b"][[1, 1, 0]], x["b"][[0, 1]]])  # per node, types in order a, b
    full, _ = TypedRelationalConv.forward(gnn.convs[0], torch.cat([x["a"], x["b"]]), ei, torch.zeros(3, dtype=torch.long),
                                          return_gates=True, context=ctx)
    torch.testing.assert_close(out["a"], full[:3])


def test_condition_errors() -> None:
    with pytest.raises(ValueError, match=r"condition:.*conv.*accepts.*context.*got.*conv='gat'"):
        HeteroGNN(["a", "b"], {AA: 0}, H, conv="gat", condition="b")
    with pytest.raises(ValueError, match=r"condition:.*node.*\['a'.*'b'\].*'c'"):
        HeteroGNN(["a", "b"], {AA: 0}, H, conv="relational", condition="c")
    gnn = plain(["a", "b"], {AA: 0}, conv="relational", condition="b")
    x = rand_x({"a": 2, "b": 1})
    with pytest.raises(ValueError, match="needs batch_dict and num_graphs"):
        gnn(x, {AA: torch.tensor([[0], [1]])})
    with pytest.raises(ValueError, match=r"batch_dict\['b'\]: expected shape \(1,\), got \(3,\)"):
        gnn(x, {AA: torch.tensor([[0], [1]])}, batch_dict={"a": torch.zeros(2, dtype=torch.long),
                                                           "b": torch.zeros(3, dtype=torch.long)}, num_graphs=1)
    with pytest.raises(ValueError, match=r"batch_dict: missing node type\(s\) \['b'\]"):
        gnn(x, {AA: torch.tensor([[0], [1]])}, batch_dict={"a": torch.zeros(2, dtype=torch.long)}, num_graphs=1)
    assert "condition='b'" in repr(gnn)


# ---------------------------------------------------------------- registering convolutions
class _SumConv(nn.Module):
    """Sum of linearly transformed source states over incoming edges; weight 1 per edge."""

    def __init__(self, hidden: int, edge_dim: int, same: bool, heads: int, dropout: float) -> None:
        super().__init__()
        self.lin = nn.Linear(hidden, hidden, bias=False)
        self.args = (hidden, edge_dim, same, heads, dropout)

    def forward(self, x_src, x_dst, edge_index, edge_attr, need_weights):
        out = scatter(self.lin(x_src)[edge_index[0]], edge_index[1], dim=0, dim_size=x_dst.size(0), reduce="sum")
        att = EdgeAttention(edge_index, torch.ones(edge_index.size(1), 1)) if need_weights else None
        return out, att


@pytest.fixture
def conv_name() -> Iterator[str]:
    name = "test-sum-conv"
    assert name not in CONVS
    try:
        yield name
    finally:
        CONVS.pop(name, None)


def test_register_conv(conv_name: str) -> None:
    factory = register_conv(conv_name)(_SumConv)
    assert factory is _SumConv and CONVS[conv_name].factory is _SumConv  # run once per edge type
    gnn = plain(["a", "b"], {AA: 0, BA: 3}, conv=conv_name, heads=2, dropout=0.0)
    assert gnn.convs[0][edge_key(AA)].args == (H, 0, True, 2, 0.0)
    assert gnn.convs[0][edge_key(BA)].args == (H, 3, False, 2, 0.0)
    x = rand_x({"a": 5, "b": 3})
    edges = {AA: rand_edges(5, 5, 6), BA: rand_edges(3, 5, 4, seed=2)}
    out, att = gnn(x, edges, return_attention=True)
    w_aa, w_ba = gnn.convs[0][edge_key(AA)].lin.weight, gnn.convs[0][edge_key(BA)].lin.weight
    expected = torch.zeros(5, H)
    for (s, d) in edges[AA].t().tolist():
        expected[d] += x["a"][s] @ w_aa.t()
    for (s, d) in edges[BA].t().tolist():
        expected[d] += x["b"][s] @ w_ba.t()
    torch.testing.assert_close(out["a"], expected)
    assert torch.equal(att[0][BA].edge_index, edges[BA])


def test_register_conv_rejects_duplicates(conv_name: str) -> None:
    register_conv(conv_name)(_SumConv)
    with pytest.raises(ValueError, match=f"'{conv_name}' is already registered"):
        register_conv(conv_name)(_SumConv)
    for builtin in CONV_NAMES:
        original = CONVS[builtin]
        with pytest.raises(ValueError, match="already registered"):
            register_conv(builtin)(_SumConv)
        assert CONVS[builtin] is original


def test_reset_parameters_changes_weights() -> None:
    gnn = plain(["a"], {AA: 0}, conv="gat")
    before = {k: v.clone() for k, v in gnn.state_dict().items()}
    torch.manual_seed(123)
    gnn.reset_parameters()
    after = gnn.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_select_heads_reach_the_relational_conv() -> None:
    gnn = plain(["a"], {AA: 2}, conv="relational", select_heads=2)
    x = rand_x({"a": 4})
    ei = rand_edges(4, 4, 6)
    _, att = gnn(x, {AA: ei}, {AA: torch.randn(6, 2)}, return_attention=True)
    assert inner(gnn, AA).heads == 2 and att[0][AA].weight.shape == (6, 3)  # gate + 2 softmax heads
    with pytest.raises(ValueError, match="select_heads:.*conv='relational'.*softmax.*heads.*conv='gat'"):
        HeteroGNN(["a"], {AA: 0}, H, conv="gat", select_heads=2)


@pytest.mark.parametrize("edges, match", [
    (torch.tensor([[0, 5], [1, 1]]), r"source indices must lie in \[0, 4\] for 5 'a' nodes, got values in \[0, 5\]"),
    (torch.tensor([[0, 1], [-1, 1]]), r"target indices must lie in \[0, 4\]"),
    (torch.tensor([0, 1]), r"expected an integer tensor of shape \(2, E\)"),
    (torch.tensor([[0.0], [1.0]]), r"expected an integer tensor"),
])
def test_bad_edge_lists_are_refused_naming_the_edge_type(edges, match) -> None:
    gnn = plain(["a", "b"], {AA: 0}, conv="gat")
    with pytest.raises(ValueError, match=r"edge_index_dict\[\('a', 'intra', 'a'\)\]: " + match):
        gnn(rand_x({"a": 5, "b": 2}), {AA: edges})


def test_gate_init_reaches_every_layer_and_edge_type() -> None:
    gnn = plain(["a", "b"], {AA: 2, ("b", "cross", "a"): 0}, conv="relational", gate_init=-6.0)
    gnn.reset_parameters()
    for layer in gnn.convs:
        for et in (AA, ("b", "cross", "a")):
            gate = layer.per_type(et).gate
            assert torch.equal(gate.weight, torch.zeros_like(gate.weight)) and gate.bias.item() == -6.0
    with pytest.raises(ValueError, match=r"gate_init: only a conv with edge gates \(\[.*'relational'.*\]\).*conv='gat'"):
        HeteroGNN(["a"], {AA: 0}, H, conv="gat", gate_init=-6.0)
