"""RelationalConv: gated messages from both endpoints and the edge attributes."""

from __future__ import annotations

import pytest
import torch

from mmgraph.nn import RelationalConv


def _reference(conv: RelationalConv, x_src, x_dst, edge_index, edge_attr):
    """A per-edge Python loop of the docstring's formula."""
    out = torch.zeros(x_dst.size(0), conv.out_dim, dtype=x_src.dtype)
    gates = []
    for e in range(edge_index.size(1)):
        j, i = int(edge_index[0, e]), int(edge_index[1, e])
        parts = [x_dst[i], x_src[j]] + ([edge_attr[e]] if edge_attr is not None else [])
        m = conv.mlp(torch.cat(parts))
        g = torch.sigmoid(conv.gate(m))
        out[i] += g * m
        gates.append(g)
    return out, torch.stack(gates) if gates else torch.zeros(0, 1)


@pytest.mark.parametrize("edge_dim", [0, 3])
@pytest.mark.parametrize("bipartite", [False, True])
def test_matches_per_edge_loop(edge_dim: int, bipartite: bool) -> None:
    torch.manual_seed(0)
    conv = RelationalConv(4, 5, edge_dim=edge_dim)
    x_src = torch.randn(6, 4)
    x_dst = torch.randn(3, 4) if bipartite else x_src
    n_dst = x_dst.size(0)
    edge_index = torch.tensor([[0, 1, 2, 5, 4, 1], [0, 0, 1, 2, n_dst - 1, 2]])
    edge_attr = torch.randn(6, edge_dim) if edge_dim else None
    x = (x_src, x_dst) if bipartite else x_src
    out, gates = conv(x, edge_index, edge_attr, return_gates=True)
    ref_out, ref_gates = _reference(conv, x_src, x_dst, edge_index, edge_attr)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(gates, ref_gates)
    assert ((gates > 0) & (gates < 1)).all()


def test_messages_depend_on_edge_attributes_and_sums_count() -> None:
    torch.manual_seed(0)
    conv = RelationalConv(2, 2, edge_dim=1)
    x = torch.ones(4, 2)
    ei = torch.tensor([[1, 2, 3], [0, 0, 0]])
    a = conv(x, ei, torch.zeros(3, 1))
    b = conv(x, ei, torch.ones(3, 1))
    assert not torch.allclose(a[0], b[0])
    # identical neighbours: the output is the number of neighbours times one message
    one = conv(x, ei[:, :1], torch.zeros(1, 1))
    torch.testing.assert_close(a[0], 3 * one[0])
    assert a[1:].abs().sum() == 0  # nodes without incoming edges get nothing


def test_gradients_and_repr() -> None:
    conv = RelationalConv(3, 4, edge_dim=2)
    x = torch.randn(3, 3, requires_grad=True)
    ea = torch.randn(2, 2, requires_grad=True)
    conv(x, torch.tensor([[0, 1], [1, 2]]), ea).sum().backward()
    assert x.grad.abs().sum() > 0 and ea.grad.abs().sum() > 0
    assert repr(conv) == "RelationalConv(3, 4, edge_dim=2)"


def test_errors() -> None:
    with pytest.raises(ValueError, match="in_dim must be a positive int, got 0"):
        RelationalConv(0, 4)
    with pytest.raises(ValueError, match="edge_dim must be an int >= 0, got -1"):
        RelationalConv(2, 4, edge_dim=-1)
    conv = RelationalConv(2, 4, edge_dim=1)
    ei = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match=r"x_src expected shape \(num_nodes, 2\), got \(2, 3\)"):
        conv(torch.randn(2, 3), ei, torch.zeros(1, 1))
    with pytest.raises(ValueError, match=r"edge_attr expected shape \(1, 1\), got None"):
        conv(torch.randn(2, 2), ei)
    with pytest.raises(ValueError, match=r"edge_index expected shape \(2, E\), got \(3, 1\)"):
        conv(torch.randn(2, 2), torch.zeros(3, 1, dtype=torch.long), torch.zeros(1, 1))
