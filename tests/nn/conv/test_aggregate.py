"""The weighted sum of source rows as a sparse product: equal to gather-weigh-scatter, gradients included."""

from __future__ import annotations

import pytest
import torch

from mmgraph.nn.conv.aggregate import sparse_plan, weighted_sum


def _reference(weight, values, src, dst, num_dst, heads):
    e = src.numel()
    msg = values[src].view(e, heads, values.size(1) // heads) * weight.unsqueeze(-1)
    return torch.zeros(num_dst, values.size(1), dtype=values.dtype).index_add_(0, dst, msg.reshape(e, values.size(1)))


@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("edges", [0, 1, 40])
def test_equals_gather_weigh_scatter_with_gradients(heads: int, edges: int) -> None:
    g = torch.Generator().manual_seed(edges + heads)
    rows, num_dst, width = 7, 5, 2 * heads
    src = torch.randint(0, rows, (edges,), generator=g)
    dst = torch.randint(0, num_dst, (edges,), generator=g)
    weight = torch.rand(edges, heads, generator=g, dtype=torch.float64, requires_grad=True)
    values = torch.randn(rows, width, generator=g, dtype=torch.float64, requires_grad=True)
    plan = sparse_plan(src, dst, rows, num_dst, heads)
    out = weighted_sum(weight, values, plan)
    want = _reference(weight, values, src, dst, num_dst, heads)
    torch.testing.assert_close(out, want)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, (weight, values), grad, allow_unused=True)
    ref = torch.autograd.grad(want, (weight, values), grad, allow_unused=True)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a if a is not None else torch.zeros_like(b), b)
    if edges:
        assert torch.autograd.gradcheck(lambda w, v: weighted_sum(w, v, plan), (weight, values))


def test_repeated_edges_add_up_and_have_gradients() -> None:
    src, dst = torch.tensor([1, 1, 0]), torch.tensor([0, 0, 0])
    plan = sparse_plan(src, dst, 2, 1, 1)
    assert not plan.unique and sparse_plan(src[1:], dst[1:], 2, 1, 1).unique
    weight = torch.tensor([[0.5], [0.25], [1.0]], requires_grad=True)
    out = weighted_sum(weight, torch.tensor([[2.0], [4.0]]), plan)
    assert out.tolist() == [[0.5 * 4 + 0.25 * 4 + 1.0 * 2]]
    out.sum().backward()
    assert weight.grad.squeeze(1).tolist() == [4.0, 4.0, 2.0]
