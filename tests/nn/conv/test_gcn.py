"""Tests for :class:`mmgraph.nn.conv.gcn.GCNLayer` against dense reference formulas."""

from __future__ import annotations

from typing import Callable, Optional

import pytest
import torch
from torch import Tensor
from torch_geometric.nn import GCNConv

from mmgraph.nn.conv.gcn import GCNLayer

ACTS = {"relu": torch.relu, "identity": None, "tanh": torch.tanh}


# ---------------------------------------------------------------- helpers
def dense_adj(edge_index: Tensor, n_dst: int, n_src: int, edge_weight: Optional[Tensor] = None) -> Tensor:
    """A[i, j] = sum of weights of edges j -> i (float64)."""
    w = torch.ones(edge_index.size(1), dtype=torch.float64) if edge_weight is None else edge_weight.double()
    a = torch.zeros(n_dst, n_src, dtype=torch.float64)
    return a.index_put_((edge_index[1], edge_index[0]), w, accumulate=True)


def inv_sqrt(deg: Tensor) -> Tensor:
    out = torch.zeros_like(deg)
    out[deg > 0] = deg[deg > 0].rsqrt()
    return out


def dense_a_hat(edge_index: Tensor, n: int, edge_weight: Optional[Tensor] = None) -> Tensor:
    a = dense_adj(edge_index, n, n, edge_weight) + torch.eye(n, dtype=torch.float64)
    d = inv_sqrt(a.sum(dim=1))
    return d[:, None] * a * d[None, :]


def dense_bipartite(edge_index: Tensor, n_src: int, n_dst: int, edge_weight: Optional[Tensor] = None) -> Tensor:
    a = dense_adj(edge_index, n_dst, n_src, edge_weight)
    return inv_sqrt(a.sum(dim=1))[:, None] * a * inv_sqrt(a.sum(dim=0))[None, :]


def dense_forward(layer: GCNLayer, a_hat: Tensor, x: Tensor, act: Optional[Callable[[Tensor], Tensor]]) -> Tensor:
    out = a_hat @ x.double() @ layer.weight.detach().double()
    if layer.bias is not None:
        out = out + layer.bias.detach().double()
    return out if act is None else act(out)


def make_graph(kind: str, n: int, gen: torch.Generator) -> Tensor:
    """Random directed graph with duplicate edges and self loops, or its symmetrisation."""
    src = torch.randint(0, n, (14,), generator=gen)
    dst = torch.randint(0, n, (14,), generator=gen)
    src = torch.cat([src, torch.tensor([0, 0, 2])])  # a duplicate edge and a self loop (2, 2)
    dst = torch.cat([dst, torch.tensor([1, 1, 2])])
    ei = torch.stack([src, dst])
    if kind == "symmetric":
        ei = torch.cat([ei, ei.flip(0)], dim=1)
    return ei


def loop_free_graph(n: int, gen: torch.Generator) -> Tensor:
    ei = torch.randint(0, n, (2, 20), generator=gen)
    return ei[:, ei[0] != ei[1]]


def randomize_bias(layer: GCNLayer) -> None:
    if layer.bias is not None:
        with torch.no_grad():
            layer.bias.normal_()


# ---------------------------------------------------------------- 1. dense formula
@pytest.mark.parametrize("act_name", list(ACTS))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", ["symmetric", "directed"])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_dense_formula(act_name: str, bias: bool, kind: str, weighted: bool) -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    n = 6
    ei = make_graph(kind, n, gen)
    ew = torch.rand(ei.size(1), generator=gen) + 0.1 if weighted else None
    act = ACTS[act_name]
    layer = GCNLayer(4, 3, bias=bias, act=act).double()
    randomize_bias(layer)
    x = torch.randn(n, 4, dtype=torch.float64)

    out = layer(x, ei, ew)
    expected = dense_forward(layer, dense_a_hat(ei, n, ew), x, act)
    assert out.shape == (n, 3)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-10)


def test_identity_added_even_with_existing_self_loops() -> None:
    # Edges: self loop 0->0 and 0->1. Always adding I gives A + I = [[2, 0], [1, 1]], deg = [2, 2],
    # so Â = [[1, 0], [0.5, 0.5]] (the diagonal entry 1 of node 0 is split over the loop and I_00).
    layer = GCNLayer(1, 1, act=None, bias=False)
    ei = torch.tensor([[0, 0], [0, 1]])
    ei_out, coeff = layer.normalized_edges(ei, 2)
    assert torch.equal(ei_out, torch.tensor([[0, 0, 0, 1], [0, 1, 0, 1]]))
    torch.testing.assert_close(coeff, torch.full((4,), 0.5))  # loop, edge, I_00, I_11
    # PyG's add_remaining_self_loops keeps the existing loop instead: A + I = [[1, 0], [1, 1]] -> differs
    x = torch.tensor([[1.0], [2.0]])
    with torch.no_grad():
        layer.weight.fill_(1.0)
    ref = GCNConv(1, 1, bias=False)
    with torch.no_grad():
        ref.lin.weight.fill_(1.0)
    torch.testing.assert_close(layer(x, ei), torch.tensor([[1.0], [1.5]]))
    torch.testing.assert_close(ref(x, ei), torch.tensor([[1.0], [2.0**-0.5 + 1.0]]))


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("add_self_loops", [True, False])
def test_normalize_and_self_loop_flags(normalize: bool, add_self_loops: bool) -> None:
    gen = torch.Generator().manual_seed(2)
    n = 5
    ei = make_graph("directed", n, gen)
    ew = torch.rand(ei.size(1), generator=gen) + 0.1
    layer = GCNLayer(3, 2, act=None, add_self_loops=add_self_loops, normalize=normalize).double()
    randomize_bias(layer)
    x = torch.randn(n, 3, dtype=torch.float64)

    a = dense_adj(ei, n, n, ew) + (torch.eye(n, dtype=torch.float64) if add_self_loops else 0.0)
    if normalize:
        d = inv_sqrt(a.sum(dim=1))
        a = d[:, None] * a * d[None, :]
    torch.testing.assert_close(layer(x, ei, ew), dense_forward(layer, a, x, None))


# ---------------------------------------------------------------- 2. PyG GCNConv
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_pyg_gcnconv_without_self_loops(weighted: bool, bias: bool) -> None:
    torch.manual_seed(3)
    gen = torch.Generator().manual_seed(3)
    n = 7
    ei = loop_free_graph(n, gen)
    assert ei.size(1) > 5 and bool((ei[0] != ei[1]).all())
    ew = torch.rand(ei.size(1), generator=gen) + 0.1 if weighted else None
    x = torch.randn(n, 5)

    layer = GCNLayer(5, 4, bias=bias, act=None)
    randomize_bias(layer)
    ref = GCNConv(5, 4, bias=bias)
    with torch.no_grad():
        ref.lin.weight.copy_(layer.weight.T)
        if bias:
            ref.bias.copy_(layer.bias)
    torch.testing.assert_close(layer(x, ei, ew), ref(x, ei, ew), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- 3. bipartite
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("act_name", ["identity", "relu"])
def test_bipartite_matches_dense(weighted: bool, act_name: str) -> None:
    torch.manual_seed(4)
    n_src, n_dst = 6, 4
    # source 5 and target 3 are isolated; duplicate edge 0->1
    ei = torch.tensor([[0, 0, 1, 2, 3, 4, 4, 0], [0, 1, 1, 2, 0, 2, 1, 1]])
    ew = torch.rand(ei.size(1)) + 0.1 if weighted else None
    act = ACTS[act_name]
    layer = GCNLayer(3, 2, act=act, add_self_loops=False).double()
    randomize_bias(layer)
    x_src = torch.randn(n_src, 3, dtype=torch.float64)
    x_dst = torch.randn(n_dst, 9, dtype=torch.float64)  # only its row count is used

    out = layer((x_src, x_dst), ei, ew)
    assert out.shape == (n_dst, 2)
    assert torch.isfinite(out).all()
    expected = dense_forward(layer, dense_bipartite(ei, n_src, n_dst, ew), x_src, act)
    torch.testing.assert_close(out, expected)
    # the isolated target only sees the bias
    bias = layer.bias.detach()
    torch.testing.assert_close(out[3], bias if act is None else act(bias))


def test_bipartite_isolated_nodes_no_nan_in_coefficients_and_grads() -> None:
    layer = GCNLayer(2, 2, act=None, add_self_loops=False, bias=False)
    ei = torch.tensor([[0], [0]])
    x_src = torch.randn(3, 2, requires_grad=True)  # sources 1, 2 isolated
    out = layer((x_src, torch.zeros(2, 2)), ei)
    torch.testing.assert_close(out[1], torch.zeros(2))
    out.sum().backward()
    assert torch.isfinite(x_src.grad).all()
    torch.testing.assert_close(x_src.grad[1:], torch.zeros(2, 2))


def test_homogeneous_isolated_node_without_self_loops_is_zero() -> None:
    layer = GCNLayer(2, 3, act=None, add_self_loops=False, bias=False)
    x = torch.randn(4, 2)
    out = layer(x, torch.tensor([[0, 1], [1, 0]]))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[2:], torch.zeros(2, 3))


def test_zero_in_degree_source_without_self_loops_gets_zero_coefficient() -> None:
    # 0 -> 1 -> 2 without I: node 0 has in-degree 0, so D^-1/2 A D^-1/2 has A_hat[1, 0] = 0 (not inf).
    layer = GCNLayer(2, 2, act=None, bias=False, add_self_loops=False)
    ei = torch.tensor([[0, 1], [1, 2]])
    _, coeff = layer.normalized_edges(ei, 3)
    torch.testing.assert_close(coeff, torch.tensor([0.0, 1.0]))
    out = layer(torch.randn(3, 2), ei)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:2], torch.zeros(2, 2))


def test_zero_weight_edges_give_zero_degree_without_nan() -> None:
    layer = GCNLayer(2, 2, act=None, bias=False, add_self_loops=False)
    ei = torch.tensor([[0, 1], [0, 1]])
    ew = torch.tensor([0.0, 2.0])  # target 0 (and source 0) have degree 0 through a zero-weight edge
    _, coeff = layer.normalized_edges(ei, (2, 2), ew)
    torch.testing.assert_close(coeff, torch.tensor([0.0, 1.0]))
    x_src = torch.randn(2, 2)
    out = layer((x_src, torch.zeros(2, 2)), ei, ew)
    torch.testing.assert_close(out, torch.stack([torch.zeros(2), x_src[1] @ layer.weight.detach()]))


# ---------------------------------------------------------------- 4. parameters, repr, grads
@pytest.mark.parametrize("bias", [True, False])
def test_parameter_shapes_and_repr(bias: bool) -> None:
    layer = GCNLayer(16, 32, bias=bias)
    assert layer.weight.shape == (16, 32)
    if bias:
        assert layer.bias is not None and layer.bias.shape == (32,)
        torch.testing.assert_close(layer.bias.detach(), torch.zeros(32))
    else:
        assert layer.bias is None
    assert {name for name, _ in layer.named_parameters()} == ({"weight", "bias"} if bias else {"weight"})
    assert repr(layer) == "GCNLayer(16, 32)"


def test_weight_init_is_glorot_uniform() -> None:
    torch.manual_seed(5)
    layer = GCNLayer(40, 60)
    bound = (6.0 / (40 + 60)) ** 0.5
    w = layer.weight.detach()
    assert w.abs().max() <= bound
    assert w.abs().max() > 0.9 * bound  # actually spans the range, not e.g. a much narrower init


def test_reset_parameters_is_deterministic() -> None:
    torch.manual_seed(6)
    fresh = GCNLayer(8, 5)
    w0, b0 = fresh.weight.detach().clone(), fresh.bias.detach().clone()
    with torch.no_grad():
        fresh.weight.add_(1.0)
        fresh.bias.add_(1.0)
    torch.manual_seed(6)
    fresh.reset_parameters()
    torch.testing.assert_close(fresh.weight.detach(), w0)
    torch.testing.assert_close(fresh.bias.detach(), b0)


def test_gradients_flow_to_weight_bias_x_and_edge_weight() -> None:
    torch.manual_seed(7)
    layer = GCNLayer(3, 4, act=torch.tanh)
    x = torch.randn(5, 3, requires_grad=True)
    ew = (torch.rand(6) + 0.5).requires_grad_()
    ei = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 0, 2]])
    layer(x, ei, ew).pow(2).sum().backward()
    for name, grad in (("weight", layer.weight.grad), ("bias", layer.bias.grad), ("x", x.grad), ("ew", ew.grad)):
        assert grad is not None, name
        assert torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name


def test_deterministic_and_dtype_preserved() -> None:
    torch.manual_seed(8)
    layer = GCNLayer(3, 4)
    x = torch.randn(6, 3)
    ei = torch.randint(0, 6, (2, 30))
    out1, out2 = layer(x, ei), layer(x, ei)
    assert out1.dtype == torch.float32
    assert torch.equal(out1, out2)
    # int32 edge indices and float64 edge weights are accepted
    torch.testing.assert_close(layer(x, ei.int(), torch.ones(30, dtype=torch.float64)), out1)


def test_empty_edge_index() -> None:
    layer = GCNLayer(3, 2, act=None, bias=False)
    x = torch.randn(4, 3)
    out = layer(x, torch.empty(2, 0, dtype=torch.long))
    torch.testing.assert_close(out, x @ layer.weight)  # Â = I


# ---------------------------------------------------------------- 5. errors
EI = torch.tensor([[0, 1], [1, 2]])


@pytest.mark.parametrize(
    "x, edge_index, edge_weight, match",
    [
        (torch.randn(3), EI, None, r"x: expected a 2-D tensor .* got shape \(3,\)"),
        (torch.randn(2, 3, 3), EI, None, r"x: expected a 2-D tensor .* got shape \(2, 3, 3\)"),
        (torch.randn(3, 5), EI, None, r"x: expected 3 features \(in_dim\), got 5"),
        (torch.randn(3, 3), torch.tensor([0, 1, 2]), None, r"edge_index: expected shape \(2, E\), got \(3,\)"),
        (torch.randn(3, 3), torch.zeros(3, 4, dtype=torch.long), None, r"expected shape \(2, E\), got \(3, 4\)"),
        (torch.randn(3, 3), EI.float(), None, r"edge_index: expected an integer dtype .* got torch.float32"),
        (torch.randn(3, 3), EI.bool(), None, r"expected an integer dtype .* got torch.bool"),
        (torch.randn(3, 3), torch.tensor([[0, 3], [1, 2]]), None, r"source indices .* \[0, 2\] for 3 .* \[0, 3\]"),
        (torch.randn(3, 3), torch.tensor([[0, 1], [1, -1]]), None, r"target indices .* \[0, 2\] .* \[-1, 1\]"),
        (torch.randn(3, 3), EI, torch.ones(3), r"edge_weight: expected shape \(2,\) .* got \(3,\)"),
        (torch.randn(3, 3), EI, torch.ones(2, 1), r"edge_weight: expected shape \(2,\) .* got \(2, 1\)"),
    ],
)
def test_errors(x: Tensor, edge_index: Tensor, edge_weight: Optional[Tensor], match: str) -> None:
    layer = GCNLayer(3, 2)
    with pytest.raises(ValueError, match=match):
        layer(x, edge_index, edge_weight)


def test_bipartite_requires_no_self_loops() -> None:
    layer = GCNLayer(3, 2)  # add_self_loops=True by default
    with pytest.raises(ValueError, match=r"bipartite input \(N_src=4, N_dst=2\).*add_self_loops=False"):
        layer((torch.randn(4, 3), torch.randn(2, 3)), torch.tensor([[3], [1]]))


@pytest.mark.parametrize(
    "x, match",
    [
        ((torch.randn(4, 2), torch.randn(2, 3)), r"x\[0\] \(x_src\): expected 3 features"),
        ((torch.randn(4, 3), torch.randn(2)), r"x\[1\] \(x_dst\): expected a 2-D tensor"),
        ((torch.randn(4, 3),), r"pair \(x_src, x_dst\), got a sequence of length 1"),
    ],
)
def test_bipartite_input_errors(x: tuple, match: str) -> None:
    layer = GCNLayer(3, 2, add_self_loops=False)
    with pytest.raises(ValueError, match=match):
        layer(x, torch.tensor([[0], [1]]))


def test_bipartite_index_ranges_checked_per_side() -> None:
    layer = GCNLayer(3, 2, add_self_loops=False)
    x = (torch.randn(4, 3), torch.randn(2, 3))
    layer(x, torch.tensor([[3], [1]]))  # source 3 < 4, target 1 < 2: fine
    with pytest.raises(ValueError, match=r"target.*\(row.*1\).*\[0.*1\]"):
        layer(x, torch.tensor([[1], [3]]))


@pytest.mark.parametrize("dim", [0, -1, 2.0, True])
def test_invalid_dims(dim: object) -> None:
    with pytest.raises(ValueError, match=r"in_dim: expected a positive int"):
        GCNLayer(dim, 4)  # type: ignore[arg-type]


# ---------------------------------------------------------------- 6. normalized_edges
@pytest.mark.parametrize("kind", ["symmetric", "directed"])
@pytest.mark.parametrize("weighted", [False, True])
def test_normalized_edges_match_dense_a_hat(kind: str, weighted: bool) -> None:
    gen = torch.Generator().manual_seed(9)
    n = 6
    ei = make_graph(kind, n, gen)
    ew = torch.rand(ei.size(1), generator=gen, dtype=torch.float64) + 0.1 if weighted else None
    layer = GCNLayer(2, 2)
    ei_out, coeff = layer.normalized_edges(ei, n, ew, dtype=torch.float64)

    assert ei_out.shape == (2, ei.size(1) + n)
    assert torch.equal(ei_out[:, : ei.size(1)], ei)  # input edges first, then one loop per node
    assert torch.equal(ei_out[:, ei.size(1) :], torch.arange(n).repeat(2, 1))
    assert coeff.shape == (ei_out.size(1),)

    a_hat = dense_a_hat(ei, n, ew)
    # per edge: coefficient = d_i^-1/2 * w_e * d_j^-1/2
    w = torch.cat([torch.ones(ei.size(1), dtype=torch.float64) if ew is None else ew, torch.ones(n, dtype=torch.float64)])
    d = inv_sqrt((dense_adj(ei, n, n, ew) + torch.eye(n, dtype=torch.float64)).sum(dim=1))
    torch.testing.assert_close(coeff, d[ei_out[1]] * w * d[ei_out[0]])
    # summed per (i, j) they are exactly the nonzero entries of the dense Â
    rebuilt = dense_adj(ei_out, n, n, coeff)
    torch.testing.assert_close(rebuilt, a_hat)
    assert torch.equal(rebuilt != 0, a_hat != 0)


def test_normalized_edges_bipartite() -> None:
    layer = GCNLayer(2, 2, add_self_loops=False)
    ei = torch.tensor([[0, 1, 1, 2], [0, 0, 1, 1]])
    ei_out, coeff = layer.normalized_edges(ei, (4, 3))
    assert torch.equal(ei_out, ei)
    rebuilt = dense_adj(ei_out, 3, 4, coeff)
    torch.testing.assert_close(rebuilt, dense_bipartite(ei, 4, 3))
    with pytest.raises(ValueError, match=r"size:.*non-negative.*int.*pair"):
        layer.normalized_edges(ei, (4, 3, 1))  # type: ignore[arg-type]


def test_normalized_edges_unnormalized_returns_raw_weights() -> None:
    layer = GCNLayer(2, 2, normalize=False)
    ei = torch.tensor([[0, 1], [1, 2]])
    ew = torch.tensor([2.0, 3.0])
    ei_out, coeff = layer.normalized_edges(ei, 3, ew)
    assert torch.equal(ei_out, torch.tensor([[0, 1, 0, 1, 2], [1, 2, 0, 1, 2]]))
    torch.testing.assert_close(coeff, torch.tensor([2.0, 3.0, 1.0, 1.0, 1.0]))
