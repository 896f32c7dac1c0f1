"""Graph convolution (GCN) over every edge type at once, with each type's own weights."""

from __future__ import annotations

import math
from typing import ClassVar, Mapping, NamedTuple, Optional, Sequence

import torch
from torch import Tensor, nn

from mmgraph.graph.layout import HeteroLayout
from mmgraph.nn.conv.hetero_relational import uniform_
from mmgraph.nn.conv.typed import EdgeAttention, EdgeSlots, EdgeType, TypedConv

__all__ = ["HeteroGCNConv", "GCNSlots"]


class GCNSlots(NamedTuple):
    """:class:`~mmgraph.nn.conv.typed.EdgeSlots` plus the normalisation every layer shares.

    Attributes:
        slots: The edge slots.
        coeff: ``(E,)`` the entry of :math:`\\hat{A}_r` of every edge.
        loop: ``(N, R)`` the self-loop entry of every node for every intra-type edge type (0 elsewhere).
    """

    slots: EdgeSlots
    coeff: Tensor
    loop: Tensor


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
        loops = torch.zeros(len(self.node_types), self.num_types)
        for r, et in enumerate(self.edge_types):
            if et[0] == et[2]:
                loops[self.src_type[r], r] = 1.0
        self.register_buffer("loops", loops, persistent=False)  # loops[t, r]: nodes of type t get r's self loop
        self.weight = nn.Parameter(torch.empty(hidden, self.num_types * hidden))
        self.bias = nn.Parameter(torch.empty(self.num_types, hidden))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot weights, zero biases (as ``GCNLayer``)."""
        uniform_(self.weight, math.sqrt(6.0 / (2 * self.hidden)))
        nn.init.zeros_(self.bias)

    def slots(self, layout: HeteroLayout) -> GCNSlots:  # type: ignore[override]
        slots = super().slots(layout)
        n, r = layout.num_nodes, self.num_types
        ones = torch.ones_like(slots.src, dtype=self.weight.dtype)
        loop = self.loops.to(self.weight.dtype).index_select(0, layout.node_type)  # (N, R)
        deg_in = ones.new_zeros(n * r).index_add_(0, slots.dst, ones) + loop.reshape(-1)
        deg_out = ones.new_zeros(n * r).index_add_(0, slots.src, ones)
        inv_in, inv_out = _inv_sqrt(deg_in), _inv_sqrt(deg_out)
        same = self.loops.sum(0).bool().index_select(0, layout.edge_type)  # the edge's type stays in one node type
        src_norm = torch.where(same, inv_in.index_select(0, slots.src), inv_out.index_select(0, slots.src))
        coeff = inv_in.index_select(0, slots.dst) * src_norm
        return GCNSlots(slots, coeff, loop * inv_in.square().view(n, r))

    def forward(self, x: Tensor, layout: HeteroLayout, slots: GCNSlots,  # type: ignore[override]
                context: Optional[Tensor] = None, need_weights: bool = False,
                ) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        n, r = x.size(0), self.num_types
        proj = (x @ self.weight).view(n * r, self.hidden)
        msg = proj.index_select(0, slots.slots.src) * slots.coeff.unsqueeze(-1)
        out = msg.new_zeros(n, self.hidden).index_add_(0, layout.edge_index[1], msg)
        out = out + (proj.view(n, r, self.hidden) * slots.loop.unsqueeze(-1)).sum(1) + self.node_bias(self.bias, layout)
        return out, (self._attention(layout, slots) if need_weights else None)

    def _attention(self, layout: HeteroLayout, slots: GCNSlots) -> dict[EdgeType, EdgeAttention]:
        """Each type's :math:`\\hat{A}_r` entries: its edges, then (within a node type) one self loop per node."""
        out = self.attention(layout, slots.coeff.unsqueeze(-1))
        for r, et in enumerate(layout.edge_types):
            if et[0] == et[2]:
                rows = layout.node_slice(et[0])
                loop = torch.arange(rows.stop - rows.start, device=slots.coeff.device)
                ei = torch.cat([out[et].edge_index, loop.repeat(2, 1)], dim=1)
                out[et] = EdgeAttention(ei, torch.cat([out[et].weight, slots.loop[rows, r].unsqueeze(-1)]))
        return out

    def load_per_type(self, states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """Stack the states of one :class:`~mmgraph.nn.GCNLayer` per edge type."""
        h = self.hidden
        out = {name: p.detach().clone() for name, p in self.named_parameters()}
        for r, state in enumerate(states):
            out["weight"][:, r * h : (r + 1) * h] = state["weight"]
            out["bias"][r] = state["bias"]
        return out

    def per_type(self, edge_type: EdgeType) -> nn.Module:
        """A :class:`~mmgraph.nn.GCNLayer` holding a copy of ``edge_type``'s weights."""
        from mmgraph.nn.conv.gcn import GCNLayer

        r, h = self._type_index(edge_type), self.hidden
        conv = GCNLayer(h, h, act=None, add_self_loops=edge_type[0] == edge_type[2])
        conv.load_state_dict({"weight": self.weight[:, r * h : (r + 1) * h].detach().clone(),
                              "bias": self.bias[r].detach().clone()})
        return conv

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hidden}, edge_types={len(self.edge_types)})"
