"""Attention-weighted sums of source rows as sparse matrix products: no ``(E, width)`` tensor is ever made.

Gathering each edge's source row, weighting it and scattering it to the target costs three
passes over an ``(E, width)`` tensor forward and more backward; at a million edges that is
most of a step and most of its memory. The same sum is a sparse matrix product: with the
heads folded into the indices, ``out[(i, k)] = sum_e alpha[e, k] * values[(src_e, k)]`` is
``A @ V`` for the CSR matrix ``A`` holding ``alpha`` at ``((dst_e, k), (src_e, k))``. Its
gradients are ``A^T @ grad`` (values) and the sampled product ``<grad[(i, k)], V[(j, k)]>`` on
``A``'s pattern (weights): two more sparse kernels. The index structures depend on the graph
alone, so :func:`sparse_plan` runs once per batch (where the data is loaded).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["SparsePlan", "sparse_plan", "weighted_sum"]


class SparsePlan(NamedTuple):
    """The CSR structure of ``A`` and of its transpose for one graph, heads folded in.

    Attributes:
        crow, col: ``A``'s compressed rows (targets x heads) and columns (source rows x heads).
        order: ``(E * K,)`` which (edge, head) weight sits at each stored entry of ``A``.
        crow_t, col_t, order_t: the same for ``A^T``.
        shape: ``(targets * K, source rows * K)``.
        unique: No (source, target) pair is listed twice (the sampled product needs that;
            repeated edges are summed by a slower gather in backward).
    """

    crow: Tensor
    col: Tensor
    order: Tensor
    crow_t: Tensor
    col_t: Tensor
    order_t: Tensor
    shape: tuple[int, int]
    unique: bool = True


def _csr(rows: Tensor, cols: Tensor, num_rows: int, num_cols: int, heads: int) -> tuple[Tensor, Tensor, Tensor, bool]:
    """CSR of the edges ``rows -> cols`` with ``heads`` entries each, at ``(row * K + k, col * K + k)``.

    One sort of the edges (by row, then column); the heads are placed by index arithmetic:
    entry ``k`` of the ``j``-th edge of row ``i`` sits at ``K * first(i) + k * count(i) + j``.
    Returns ``(crow, col, order, unique)``: ``order`` names the (edge, head) weight of every
    entry; ``unique``: no (row, column) pair repeats.
    """
    e, device = rows.numel(), rows.device
    key = rows * max(num_cols, 1) + cols
    perm = torch.argsort(key)
    unique = bool(e < 2 or (key.index_select(0, perm).diff() != 0).all())
    sorted_rows = rows.index_select(0, perm)
    counts = torch.bincount(rows, minlength=num_rows)
    first = torch.cumsum(counts, 0) - counts
    j = torch.arange(e, device=device) - first.index_select(0, sorted_rows)
    k = torch.arange(heads, device=device)
    pos = (heads * first.index_select(0, sorted_rows) + j).unsqueeze(1) + k * counts.index_select(0, sorted_rows).unsqueeze(1)
    order = torch.empty(e * heads, dtype=torch.long, device=device)
    col = torch.empty(e * heads, dtype=torch.long, device=device)
    order[pos.reshape(-1)] = (perm.unsqueeze(1) * heads + k).reshape(-1)
    col[pos.reshape(-1)] = (cols.index_select(0, perm).unsqueeze(1) * heads + k).reshape(-1)
    # rows of the folded matrix are (row, head), each holding its row's edges
    crow = torch.cat([counts.new_zeros(1), (first.unsqueeze(1) * heads + (k + 1) * counts.unsqueeze(1)).reshape(-1)])
    return crow, col, order, unique


def sparse_plan(src_rows: Tensor, dst: Tensor, num_src_rows: int, num_dst: int, heads: int) -> SparsePlan:
    """The plan of ``A`` for edges ``src_rows -> dst`` with ``heads`` weights each (graph-only: computed in the loader)."""
    crow, col, order, unique = _csr(dst, src_rows, num_dst, num_src_rows, heads)
    crow_t, col_t, order_t, _ = _csr(src_rows, dst, num_src_rows, num_dst, heads)
    return SparsePlan(crow, col, order, crow_t, col_t, order_t, (num_dst * heads, num_src_rows * heads), unique)


def _matrix(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=shape, check_invariants=False)


class _WeightedSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, weight: Tensor, values: Tensor, plan: SparsePlan) -> Tensor:  # type: ignore[override]
        ctx.plan = plan
        ctx.save_for_backward(weight, values)
        a = _matrix(plan.crow, plan.col, weight.index_select(0, plan.order), plan.shape)
        return torch.sparse.mm(a, values)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        weight, values = ctx.saved_tensors
        plan: SparsePlan = ctx.plan
        grad = grad.contiguous()
        grad_weight = grad_values = None
        if ctx.needs_input_grad[1]:
            a_t = _matrix(plan.crow_t, plan.col_t, weight.index_select(0, plan.order_t), plan.shape[::-1])
            grad_values = torch.sparse.mm(a_t, grad)
        if ctx.needs_input_grad[0] and plan.unique:
            pattern = _matrix(plan.crow, plan.col, weight.new_zeros(weight.size(0)), plan.shape)
            sampled = torch.sparse.sampled_addmm(pattern, grad, values.t(), beta=0.0).values()
            grad_weight = torch.zeros_like(weight).index_copy_(0, plan.order, sampled)
        elif ctx.needs_input_grad[0]:  # repeated pairs: one dot product per stored entry, gathered
            rows = torch.repeat_interleave(torch.arange(plan.shape[0], device=grad.device), plan.crow.diff(),
                                           output_size=weight.size(0))
            dots = (grad.index_select(0, rows) * values.index_select(0, plan.col)).sum(-1)
            grad_weight = torch.zeros_like(weight).index_copy_(0, plan.order, dots)
        return grad_weight, grad_values, None


@torch.compiler.disable
def weighted_sum(weight: Tensor, values: Tensor, plan: SparsePlan) -> Tensor:
    r"""``out[i, k] = sum_{e: dst_e = i} weight[e, k] * values[src_e, k]``, heads as column blocks.

    Args:
        weight: ``(E, K)`` the weight of each edge for each head.
        values: ``(source rows, K * C)`` head ``k`` in columns ``k * C : (k + 1) * C``.
        plan: :func:`sparse_plan` of the edges.

    Shapes:
        - **output:** ``(targets, K * C)``
    """
    e, k = weight.shape
    rows = plan.shape[1] // max(k, 1)
    out = _WeightedSum.apply(weight.reshape(e * k), values.reshape(rows * k, -1), plan)
    return out.view(plan.shape[0] // max(k, 1), -1)
