"""TypedRelationalConv: one relational layer over all edge types, and the fused HeteroGNN path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmgraph.nn import HeteroGNN, TypedRelationalConv


def _reference(conv: TypedRelationalConv, x, edge_index, edge_type, edge_attr, context=None):
    out = torch.zeros(x.size(0), conv.out_dim)
    gates = []
    for e in range(edge_index.size(1)):
        j, i, r = int(edge_index[0, e]), int(edge_index[1, e]), int(edge_type[e])
        pre = conv.lin_dst(x[i]) + conv.lin_src(x[j]) + conv.type_emb.weight[r]
        if conv.lin_edge is not None:
            pre = pre + conv.lin_edge(edge_attr[e])
        if context is not None:
            pre = pre + conv.lin_ctx(context[i])
        m = conv.lin2(F.gelu(pre))
        g = torch.sigmoid(conv.gate(m))
        out[i] += g * m
        gates.append(g)
    return out, torch.stack(gates)


@pytest.mark.parametrize("edge_dim", [0, 2])
@pytest.mark.parametrize("context_dim", [0, 3])
def test_matches_per_edge_loop(edge_dim: int, context_dim: int) -> None:
    torch.manual_seed(0)
    conv = TypedRelationalConv(4, 5, num_types=3, edge_dim=edge_dim, context_dim=context_dim)
    x = torch.randn(6, 4)
    edge_index = torch.tensor([[0, 1, 2, 5, 4, 1, 3], [0, 0, 1, 2, 3, 2, 5]])
    edge_type = torch.tensor([0, 1, 2, 0, 1, 2, 2])
    edge_attr = torch.randn(7, edge_dim) if edge_dim else None
    context = torch.randn(6, context_dim) if context_dim else None
    out, gates = conv(x, edge_index, edge_type, edge_attr, return_gates=True, context=context)
    ref_out, ref_gates = _reference(conv, x, edge_index, edge_type, edge_attr, context)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(gates, ref_gates)


def test_edge_type_changes_messages() -> None:
    torch.manual_seed(0)
    conv = TypedRelationalConv(3, 3, num_types=2)
    x, ei = torch.randn(2, 3), torch.tensor([[0], [1]])
    assert not torch.allclose(conv(x, ei, torch.tensor([0])), conv(x, ei, torch.tensor([1])))


def test_errors_and_repr() -> None:
    with pytest.raises(ValueError, match="num_types.*positive.*int.*0"):
        TypedRelationalConv(2, 2, num_types=0)
    conv = TypedRelationalConv(2, 2, num_types=2, edge_dim=1)
    ei = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match=r"edge_type expected shape \(1,\), got \(2,\)"):
        conv(torch.randn(2, 2), ei, torch.tensor([0, 1]), torch.zeros(1, 1))
    with pytest.raises(ValueError, match=r"edge_attr.*shape.*\(1.*1\).*None"):
        conv(torch.randn(2, 2), ei, torch.tensor([0]))
    with pytest.raises(ValueError, match=r"x.*\(num_nodes.*2\).*\(2.*3\)"):
        conv(torch.randn(2, 3), ei, torch.tensor([0]), torch.zeros(1, 1))
    assert repr(conv) == "TypedRelationalConv(2, 2, num_types=2, edge_dim=1)"
    with pytest.raises(ValueError, match="context_dim.*int.*>=.*0.*-1"):
        TypedRelationalConv(2, 2, num_types=2, context_dim=-1)
    with pytest.raises(ValueError, match="got a context but context_dim=0"):
        conv(torch.randn(2, 2), ei, torch.tensor([0]), torch.zeros(1, 1), context=torch.zeros(2, 1))
    with_ctx = TypedRelationalConv(2, 2, num_types=2, context_dim=4)
    with pytest.raises(ValueError, match=r"context.*shape.*\(2.*4\).*None"):
        with_ctx(torch.randn(2, 2), ei, torch.tensor([0]))
    assert repr(with_ctx) == "TypedRelationalConv(2, 2, num_types=2, edge_dim=0, context_dim=4)"


def test_hetero_stack_fuses_all_edge_types() -> None:
    """The fused stack equals the conv applied to the concatenated graph, split back per node type."""
    torch.manual_seed(0)
    ets = {("a", "intra", "a"): 2, ("b", "cross", "a"): 0, ("a", "cross", "b"): 1}
    gnn = HeteroGNN(["a", "b"], ets, hidden=4, num_layers=1, conv="typed-relational", norm=None, residual=False,
                    act=lambda t: t)
    x = {"a": torch.randn(3, 4), "b": torch.randn(2, 4)}
    ei = {("a", "intra", "a"): torch.tensor([[0, 1], [1, 2]]), ("b", "cross", "a"): torch.tensor([[1], [0]]),
          ("a", "cross", "b"): torch.tensor([[2, 0], [0, 1]])}
    ea = {("a", "intra", "a"): torch.randn(2, 2), ("a", "cross", "b"): torch.randn(2, 1)}
    out, att = gnn(x, ei, ea, return_attention=True)
    conv = gnn.convs[0]
    glob = torch.tensor([[0, 1, 4, 2, 0], [1, 2, 0, 3, 4]])  # b nodes are offset by 3
    types = torch.tensor([0, 0, 1, 2, 2])
    attr = torch.cat([ea[("a", "intra", "a")], torch.zeros(1, 2), F.pad(ea[("a", "cross", "b")], (0, 1))])
    expected, gates = TypedRelationalConv.forward(conv, torch.cat([x["a"], x["b"]]), glob, types, attr, return_gates=True)
    torch.testing.assert_close(out["a"], expected[:3])
    torch.testing.assert_close(out["b"], expected[3:])
    assert set(att[0]) == set(ets)
    torch.testing.assert_close(att[0][("a", "cross", "b")].weight, gates[3:])
    assert torch.equal(att[0][("a", "cross", "b")].edge_index, ei[("a", "cross", "b")])
