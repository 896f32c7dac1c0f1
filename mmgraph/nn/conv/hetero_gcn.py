"""Graph convolution (GCN) over every edge type at once, with each type's own weights."""

from __future__ import annotations

import math
from typing import ClassVar, Mapping, NamedTuple, Optional, Sequence

import torch
from torch import Tensor, nn

from mmgraph.graph.layout import HeteroLayout
from mmgraph.nn.conv.hetero_relational import uniform_
from mmgraph.nn.conv.aggregate import SparsePlan, sparse_plan, weighted_sum
from mmgraph.nn.conv.typed import EdgeAttention, EdgeType, Plan, TypedConv

__all__ = ["HeteroGCNConv", "GCNSlots"]


class GCNSlots(NamedTuple):
    """The edges of one forward pass with each type's self loops appended, and their :math:`\\hat{A}_r` entries.

    Attributes:
        src: ``(E + L,)`` each edge's row in the source table (its source's projection for its type).
        dst: ``(E + L,)`` each edge's target node.
        coeff: ``(E + L,)`` the entry of :math:`\\hat{A}_r` of every edge, self loops last.
        loops: Number of self loops of each edge type (``0`` across node types).
        plan: How the tables are laid out.
        sparse: The sum over the edges as a sparse matrix product (:mod:`mmgraph.nn.conv.aggregate`).
    """

    src: Tensor
    dst: Tensor
    coeff: Tensor
    loops: tuple[int, ...]
    plan: Plan
    sparse: SparsePlan


def _inv_sqrt(deg: Tensor) -> Tensor:
    return deg.pow(-0.5).masked_fill(deg == 0, 0.0)


class HeteroGCNConv(TypedConv):
    r""":class:`~mmgraph.nn.GCNLayer` on every edge type of a layer at once, each type with its own weights.

    .. math::
        H' = \sum_r \big(\hat{A}_r H_{\text{src}(r)} W_r + b_r\big),

    with :math:`\hat{A}_r = \hat{D}^{-1/2} (A_r + I) \hat{D}^{-1/2}` for an edge type within one
    node type and :math:`D_\text{dst}^{-1/2} A_r D_\text{src}^{-1/2}` across node types (the
    ``GCNLayer(H, H, act=None, add_self_loops=same)`` of each type, summed per target). The
    coefficients depend on the graph only, so they are computed once per forward pass
    (:meth:`slots`) and shared by every layer.

    Args:
        hidden: Width of node states.
        node_types: Node types of the layout.
        edge_types: ``{edge_type: edge_dim}`` of the layout (attributes are not used).

    Shapes:
        - **input:** ``x`` :math:`(N, H)` and a :class:`~mmgraph.graph.HeteroLayout`
        - **output:** :math:`(N, H)`; attention: the entries of :math:`\hat{A}_r` per type (self loops last)
    """

    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, hidden: int, node_types: Sequence[str], edge_types: Mapping[EdgeType, int]) -> None:
        super().__init__(hidden, node_types, edge_types)
        same = [et[0] == et[2] for et in self.edge_types]  # types within one node type get self loops
        self.register_buffer("same", torch.tensor(same or [False]), persistent=False)
        self.weight = nn.Parameter(torch.empty(hidden, self.num_types * hidden))  # source-group order
        self.bias = nn.Parameter(torch.empty(self.num_types, hidden))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot weights, zero biases (as ``GCNLayer``)."""
        uniform_(self.weight, math.sqrt(6.0 / (2 * self.hidden)))
        nn.init.zeros_(self.bias)

    def slots(self, layout: HeteroLayout) -> GCNSlots:  # type: ignore[override]
        """The edges plus one self loop per node for each type within one node type, and :math:`\\hat{A}_r`."""
        plan = self.plan(layout)
        nodes, types, loops = [], [], []
        for r, et in enumerate(layout.edge_types):
            rows = layout.node_slice(et[0]) if et[0] == et[2] else slice(0, 0)
            nodes.append(torch.arange(rows.start, rows.stop, device=layout.edge_type.device))
            types.append(torch.full_like(nodes[-1], r))
            loops.append(rows.stop - rows.start)
        src = torch.cat([layout.edge_index[0], *nodes])
        dst = torch.cat([layout.edge_index[1], *nodes])
        r = torch.cat([layout.edge_type, *types])
        src_rows, dst_rows = self.rows(layout, plan, "src", src, r), self.rows(layout, plan, "dst", dst, r)
        ones = torch.ones_like(src, dtype=self.weight.dtype)
        inv_in = _inv_sqrt(ones.new_zeros(self.table_rows(plan, "dst")).index_add_(0, dst_rows, ones))
        inv_out = _inv_sqrt(ones.new_zeros(self.table_rows(plan, "src")).index_add_(0, src_rows, ones))
        # within one node type the normalisation is symmetric: a source's in-degree for the edge's type
        as_target = self.rows(layout, plan, "dst", src, r).clamp(0, max(inv_in.size(0) - 1, 0))
        src_norm = torch.where(self.same.index_select(0, r), inv_in.index_select(0, as_target),
                               inv_out.index_select(0, src_rows))
        sparse = sparse_plan(src_rows, dst, self.table_rows(plan, "src"), layout.num_nodes, 1)
        return GCNSlots(src_rows, dst, inv_in.index_select(0, dst_rows) * src_norm, tuple(loops), plan, sparse)

    def forward(self, x: Tensor, layout: HeteroLayout, slots: GCNSlots,  # type: ignore[override]
                context: Optional[Tensor] = None, need_weights: bool = False,
                ) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        h = self.hidden
        proj = self.project(x, slots.plan, self.weight, "src", h)
        out = weighted_sum(slots.coeff.unsqueeze(-1), proj, slots.sparse) + self.node_bias(self.bias, layout)
        return out, (self._attention(layout, slots) if need_weights else None)

    def _attention(self, layout: HeteroLayout, slots: GCNSlots) -> dict[EdgeType, EdgeAttention]:
        """Each type's :math:`\\hat{A}_r` entries: its edges, then (within a node type) one self loop per node."""
        e = layout.num_edges
        out = self.attention(layout, slots.coeff[:e].unsqueeze(-1))
        loop_coeff = slots.coeff[e:].split(list(slots.loops))
        for r, et in enumerate(layout.edge_types):
            if slots.loops[r]:
                loop = torch.arange(slots.loops[r], device=slots.coeff.device)
                ei = torch.cat([out[et].edge_index, loop.repeat(2, 1)], dim=1)
                out[et] = EdgeAttention(ei, torch.cat([out[et].weight, loop_coeff[r].unsqueeze(-1)]))
        return out

    def load_per_type(self, states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """Stack the states of one :class:`~mmgraph.nn.GCNLayer` per edge type."""
        h = self.hidden
        out = {name: p.detach().clone() for name, p in self.named_parameters()}
        for r, state in enumerate(states):
            s = self.src_groups.rank[r]
            out["weight"][:, s * h : (s + 1) * h] = state["weight"]
            out["bias"][r] = state["bias"]
        return out

    def per_type(self, edge_type: EdgeType) -> nn.Module:
        """A :class:`~mmgraph.nn.GCNLayer` holding a copy of ``edge_type``'s weights."""
        from mmgraph.nn.conv.gcn import GCNLayer

        r, h = self._type_index(edge_type), self.hidden
        conv = GCNLayer(h, h, act=None, add_self_loops=edge_type[0] == edge_type[2])
        s = self.src_groups.rank[r]
        conv.load_state_dict({"weight": self.weight[:, s * h : (s + 1) * h].detach().clone(),
                              "bias": self.bias[r].detach().clone()})
        return conv

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hidden}, edge_types={len(self.edge_types)})"
