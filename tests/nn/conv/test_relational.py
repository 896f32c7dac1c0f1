"""RelationalConv: gated messages from both endpoints and the edge attributes."""

from __future__ import annotations

import pytest
import torch

from mmgraph.nn import RelationalConv


def _reference(conv: RelationalConv, x_src, x_dst, edge_index, edge_attr, context=None):
    """A per-edge Python loop of the docstring's formula."""
    out = torch.zeros(x_dst.size(0), conv.out_dim, dtype=x_src.dtype)
    hiddens, gates, scores = [], [], []
    lin1, lin2 = conv.mlp[0], conv.mlp[2]
    for e in range(edge_index.size(1)):
        j, i = int(edge_index[0, e]), int(edge_index[1, e])
        parts = [x_dst[i], x_src[j]] + ([edge_attr[e]] if edge_attr is not None else [])
        parts += [context[i]] if context is not None else []
        u = torch.nn.functional.gelu(lin1(torch.cat(parts)))
        m = lin2(u)  # the message of one weight; gate and scores are read from it
        hiddens.append(u)
        gates.append(torch.sigmoid(conv.gate(m)))
        if conv.score is not None:
            score = conv.score(m)  # (K,)
            if edge_attr is not None:
                query = torch.cat([x_dst[i]] + ([context[i]] if context is not None else []))
                score = score + conv.score_edge(query).view(conv.heads, -1) @ edge_attr[e]
            scores.append(score * conv.log_scale.exp())
    alphas = []
    for e in range(edge_index.size(1)):
        i = int(edge_index[1, e])
        weight = gates[e]
        if conv.score is not None:  # softmax over the target's incoming edges; source heads: the source's outgoing
            alpha = torch.zeros(conv.heads)
            for h in range(conv.heads):
                end = 0 if h >= conv.heads - conv.source_heads else 1
                same = [k for k in range(edge_index.size(1)) if int(edge_index[end, k]) == int(edge_index[end, e])]
                alpha[h] = torch.exp(scores[e][h]) / sum(torch.exp(scores[k][h]) for k in same)
            alphas.append(alpha)
            weight = weight + alpha
        # m = W2 (w ⊗ u) + mean(w) b2: block k of the hidden layer scaled by w_k
        scaled = (hiddens[e].view(weight.numel(), -1) * weight.unsqueeze(-1)).reshape(-1)
        out[i] += lin2.weight @ scaled + weight.mean() * lin2.bias
    weights = [torch.cat([g, a]) for g, a in zip(gates, alphas)] if alphas else gates
    return out, torch.stack(weights) if weights else torch.zeros(0, 1)


@pytest.mark.parametrize("edge_dim", [0, 3])
@pytest.mark.parametrize("bipartite", [False, True])
@pytest.mark.parametrize("context_dim", [0, 2])
@pytest.mark.parametrize("softmax,heads,source_heads", [(False, 1, 0), (True, 1, 0), (True, 3, 0), (True, 3, 2),
                                                        (True, 1, 1)])
def test_matches_per_edge_loop(edge_dim: int, bipartite: bool, context_dim: int, softmax: bool, heads: int,
                               source_heads: int) -> None:
    torch.manual_seed(0)
    conv = RelationalConv(4, 6, edge_dim=edge_dim, context_dim=context_dim, softmax=softmax, heads=heads,
                          source_heads=source_heads)
    if softmax:
        with torch.no_grad():
            conv.log_scale.copy_(torch.linspace(0.7, -0.3, heads))  # temperatures other than 1
    x_src = torch.randn(6, 4)
    x_dst = torch.randn(3, 4) if bipartite else x_src
    n_dst = x_dst.size(0)
    edge_index = torch.tensor([[0, 1, 2, 5, 4, 1], [0, 0, 1, 2, n_dst - 1, 2]])
    edge_attr = torch.randn(6, edge_dim) if edge_dim else None
    context = torch.randn(n_dst, context_dim) if context_dim else None
    x = (x_src, x_dst) if bipartite else x_src
    out, gates = conv(x, edge_index, edge_attr, return_gates=True, context=context)
    ref_out, ref_gates = _reference(conv, x_src, x_dst, edge_index, edge_attr, context)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(gates, ref_gates)
    assert gates.shape == (6, 1 + heads if softmax else 1)
    assert ((gates[:, 0] > 0) & (gates[:, 0] < 1)).all()


def test_softmax_weights_sum_to_one_per_target() -> None:
    torch.manual_seed(0)
    conv = RelationalConv(3, 4, softmax=True, heads=2)
    edge_index = torch.tensor([[1, 2, 3, 0, 2], [0, 0, 0, 1, 1]])
    _, weights = conv(torch.randn(4, 3), edge_index, return_gates=True)
    for head in (1, 2):
        sums = torch.zeros(4).index_add_(0, edge_index[1], weights[:, head])
        torch.testing.assert_close(sums, torch.tensor([1.0, 1.0, 0.0, 0.0]))


def test_context_changes_messages() -> None:
    torch.manual_seed(0)
    conv = RelationalConv(3, 3, context_dim=2)
    x, ei = torch.randn(3, 3), torch.tensor([[1, 2], [0, 0]])
    a = conv(x, ei, context=torch.zeros(3, 2))
    b = conv(x, ei, context=torch.ones(3, 2))
    assert not torch.allclose(a[0], b[0])


def test_messages_depend_on_edge_attributes_and_sums_count() -> None:
    torch.manual_seed(0)
    conv = RelationalConv(2, 2, edge_dim=1, softmax=False)
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
    assert repr(RelationalConv(3, 4, context_dim=5, softmax=False)) == (
        "RelationalConv(3, 4, edge_dim=0, context_dim=5, softmax=False)"
    )


def test_errors() -> None:
    with pytest.raises(ValueError, match="in_dim.*positive.*int.*0"):
        RelationalConv(0, 4)
    with pytest.raises(ValueError, match="edge_dim.*int.*>=.*0.*-1"):
        RelationalConv(2, 4, edge_dim=-1)
    conv = RelationalConv(2, 4, edge_dim=1)
    ei = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match=r"x_src.*\(num_nodes.*2\).*\(2.*3\)"):
        conv(torch.randn(2, 3), ei, torch.zeros(1, 1))
    with pytest.raises(ValueError, match=r"edge_attr.*shape.*\(1.*1\).*None"):
        conv(torch.randn(2, 2), ei)
    with pytest.raises(ValueError, match=r"edge_index.*\(2.*E\).*\(3.*1\)"):
        conv(torch.randn(2, 2), torch.zeros(3, 1, dtype=torch.long), torch.zeros(1, 1))
    with pytest.raises(ValueError, match=r"heads.*positive.*dividing.*\(4\).*3"):
        RelationalConv(2, 4, heads=3)
    with pytest.raises(ValueError, match="heads > 1 needs softmax=True"):
        RelationalConv(2, 4, heads=2, softmax=False)
    assert repr(RelationalConv(2, 4, heads=2)) == "RelationalConv(2, 4, edge_dim=0, heads=2)"
    with pytest.raises(ValueError, match="context_dim.*int.*>=.*0.*-2"):
        RelationalConv(2, 4, context_dim=-2)
    with pytest.raises(ValueError, match="got a context but context_dim=0"):
        conv(torch.randn(2, 2), ei, torch.zeros(1, 1), context=torch.zeros(2, 3))
    with_ctx = RelationalConv(2, 4, context_dim=3)
    with pytest.raises(ValueError, match=r"context.*shape.*\(2.*3\).*None"):
        with_ctx(torch.randn(2, 2), ei)
    with pytest.raises(ValueError, match=r"context.*\(2.*3\).*\(1.*3\)"):
        with_ctx(torch.randn(2, 2), ei, context=torch.zeros(1, 3))


def _complete(pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(src, dst, [dx, dy, distance] attributes, distances with a NaN diagonal)`` of the complete graph on ``pos``."""
    n = pos.size(0)
    src, dst = torch.tensor([[j, i] for i in range(n) for j in range(n) if i != j]).t()
    delta = pos[src] - pos[dst]
    attr = torch.cat([delta, delta.norm(dim=-1, keepdim=True)], -1)
    return src, dst, attr, torch.cdist(pos, pos).fill_diagonal_(float("nan"))


def _closest_furthest(d: torch.Tensor, i: int) -> tuple[int, int]:
    return int(d[i].nan_to_num(float("inf")).argmin()), int(d[i].nan_to_num(float("-inf")).argmax())


def test_edge_score_init_selects_closest_and_furthest_and_survives_reset() -> None:
    torch.manual_seed(0)
    pos = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.45, 0.6], [1.0, 0.9]])  # no ties
    src, dst, attr, d = _complete(pos)
    prior = [[0.0, 0.0, -100.0], [0.0, 0.0, 100.0]]
    conv = RelationalConv(8, 8, edge_dim=3, heads=2, edge_score_init=prior)
    _, gates = conv(torch.randn(4, 8) * 0.01, torch.stack([src, dst]), attr, return_gates=True)
    for i in range(4):
        into = (dst == i).nonzero().squeeze(-1)
        closest, furthest = _closest_furthest(d, i)
        assert int(src[into[gates[into, 1].argmax()]]) == closest and gates[into, 1].max() > 0.9
        assert int(src[into[gates[into, 2].argmax()]]) == furthest and gates[into, 2].max() > 0.9
    with torch.no_grad():
        conv.score_edge.bias.zero_()
    conv.reset_parameters()
    torch.testing.assert_close(conv.score_edge.bias.view(2, 3), torch.tensor(prior))
    conv.init_edge_scores(torch.zeros(2, 3))
    assert conv.score_edge.bias.abs().sum() == 0


def test_source_heads_tell_a_node_who_selected_it() -> None:
    """With a sharp closest / furthest prior, a source head sends each node's message to its closest / furthest node."""
    torch.manual_seed(0)
    pos = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.45, 0.6], [1.0, 0.9], [0.8, 0.1]])  # no ties
    src, dst, attr, d = _complete(pos)
    prior = [[0.0, 0.0, -1000.0], [0.0, 0.0, 1000.0]]
    conv = RelationalConv(8, 8, edge_dim=3, heads=2, source_heads=2, edge_score_init=prior)
    _, gates = conv(torch.randn(5, 8) * 0.01, torch.stack([src, dst]), attr, return_gates=True)
    for j in range(5):
        out_of = (src == j).nonzero().squeeze(-1)
        closest, furthest = _closest_furthest(d, j)
        assert int(dst[out_of[gates[out_of, 1].argmax()]]) == closest and gates[out_of, 1].max() > 0.9
        assert int(dst[out_of[gates[out_of, 2].argmax()]]) == furthest and gates[out_of, 2].max() > 0.9
    received = torch.zeros(5).index_add_(0, dst, gates[:, 1])  # how many nodes each node is the closest to
    expected = torch.bincount(d.nan_to_num(float("inf")).argmin(-1), minlength=5).float()
    torch.testing.assert_close(received, expected, atol=1e-3, rtol=0)
    assert "source_heads=2" in repr(conv)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"heads": 2, "source_heads": 3}, r"source_heads: expected an int from 0 to .* \(2\), got 3"),
        ({"source_heads": -1}, r"source_heads: expected an int from 0 to .* \(1\), got -1"),
        ({"softmax": False, "source_heads": 1}, "source_heads: needs the softmax"),
    ],
)
def test_source_heads_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RelationalConv(8, 8, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"edge_dim": 3, "heads": 2, "edge_score_init": [[0.0, 0.0, 1.0]]},
         r"edge_score_init expected shape \(heads=2, edge_dim=3\), got \(1, 3\)"),
        ({"edge_dim": 0, "edge_score_init": [[]]}, "needs softmax=True and edge_dim > 0"),
        ({"edge_dim": 3, "softmax": False, "edge_score_init": [[0.0, 0.0, 1.0]]}, "needs softmax=True and edge_dim > 0"),
    ],
)
def test_edge_score_init_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RelationalConv(8, 8, **kwargs)


def test_init_gates_starts_every_gate_at_its_bias_and_survives_reset() -> None:
    torch.manual_seed(0)
    pos = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.45, 0.6], [1.0, 0.9]])
    src, dst, attr, _ = _complete(pos)
    conv = RelationalConv(8, 8, edge_dim=3, heads=2, edge_score_init=[[0.0, 0.0, -5.0], [0.0, 0.0, 5.0]])
    x = torch.randn(4, 8)
    _, before = conv(x, torch.stack([src, dst]), attr, return_gates=True)
    assert before[:, 0].std() > 0  # the default initialisation: gates differ per edge
    conv.init_gates(-10.0)
    conv.reset_parameters()
    out, gates = conv(x, torch.stack([src, dst]), attr, return_gates=True)
    torch.testing.assert_close(gates[:, 0], torch.full((src.numel(),), torch.sigmoid(torch.tensor(-10.0)).item()))
    expected, _ = _reference(conv, x, x, torch.stack([src, dst]), attr)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert conv.gate_init == -10.0 and torch.equal(conv.gate.weight, torch.zeros_like(conv.gate.weight))


@pytest.mark.parametrize("bias", [True, "closed", float("inf"), None])
def test_init_gates_errors(bias: object) -> None:
    with pytest.raises(ValueError, match=r"init_gates: expected a finite number \(the gate's starting logit\), got"):
        RelationalConv(8, 8).init_gates(bias)  # type: ignore[arg-type]
