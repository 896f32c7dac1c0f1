"""Graph attention (GAT, GATv2) over every edge type at once, with each type's own weights."""

from __future__ import annotations

import math
from typing import ClassVar, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.graph.layout import HeteroLayout
from mmgraph.nn.conv.hetero_relational import uniform_
from mmgraph.nn.conv.aggregate import sparse_plan, weighted_sum
from mmgraph.nn.conv.typed import EdgeAttention, EdgeSlots, EdgeType, TypedConv, pad_nodes, segment_softmax

__all__ = ["HeteroGATConv", "HeteroGATv2Conv"]


def _glorot_(tensor: Tensor, fan_in: int, fan_out: int) -> None:
    uniform_(tensor, math.sqrt(6.0 / (fan_in + fan_out)))


class _HeteroAttention(TypedConv):
    """What GAT and GATv2 share: heads, the edge-weight block layout, per-type softmax, messages, biases."""

    options: ClassVar[tuple[str, ...]] = ("heads", "dropout")

    def __init__(self, hidden: int, node_types: Sequence[str], edge_types: Mapping[EdgeType, int],
                 heads: int = 1, dropout: float = 0.0) -> None:
        super().__init__(hidden, node_types, edge_types)
        if not isinstance(heads, int) or isinstance(heads, bool) or heads < 1 or hidden % heads:
            raise ValueError(f"heads: must divide hidden and be a positive int; got heads={heads}, hidden={hidden}")
        self.heads, self.channels, self.dropout = heads, hidden // heads, float(dropout)
        r = self.num_types
        self.register_buffer("edge_rows_index", self.edge_rows(bias_row=False), persistent=False)
        # the types with attributes, once per attribute row (to expand att_edge onto the rows)
        typed = [t for t, dim in enumerate(self.edge_types.values()) if dim]
        self.register_buffer("edge_row_type", torch.tensor(
            [typed.index(t) for t, dim in enumerate(self.edge_types.values()) for _ in range(dim)], dtype=torch.long),
            persistent=False)
        self.w_edge = nn.Parameter(torch.empty(self.edge_rows_index.numel(), hidden)) if typed else None
        self.bias = nn.Parameter(torch.empty(r, hidden))

    def slots(self, layout: HeteroLayout) -> EdgeSlots:
        """:meth:`TypedConv.slots` and the sparse structure of the weighted sums."""
        slots = super().slots(layout)
        sparse = sparse_plan(slots.src, layout.edge_index[1], slots.src_rows, layout.num_nodes, self.heads)
        return slots._replace(sparse=sparse)

    def _aggregate(self, values: Tensor, score: Tensor, layout: HeteroLayout, slots: EdgeSlots, need_weights: bool,
                   leaky: bool = True) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        """Softmax of ``score (E, heads)`` per (target, type), dropout, and the weighted sum of the source
        table ``values`` per target (a sparse matrix product: see :mod:`mmgraph.nn.conv.aggregate`)."""
        score = F.leaky_relu(score, 0.2) if leaky else score
        alpha = segment_softmax(score, slots.dst, slots.dst_rows)
        if self.dropout > 0:
            alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        assert slots.sparse is not None
        out = weighted_sum(alpha, values.contiguous(), slots.sparse) + self.node_bias(self.bias, layout)
        return out, (self.attention(layout, alpha) if need_weights else None)

    def _reset_edge_weights(self) -> None:
        """Each type's ``lin_edge`` Glorot-initialised, zero biases (as PyG's convolutions)."""
        if self.w_edge is not None:
            row = 0
            for dim in self.edge_types.values():
                _glorot_(self.w_edge[row : row + dim], self.hidden, dim)
                row += dim
        nn.init.zeros_(self.bias)

    def _edge_block(self, r: int) -> tuple[int, int, int]:
        """``(edge_dim, first row in w_edge, index among the types with attributes)`` of type ``r``."""
        dims = list(self.edge_types.values())
        return dims[r], sum(dims[:r]), sum(1 for d in dims[:r] if d)

    def _per_type_module(self, cls: type, edge_type: EdgeType, state: dict[str, Tensor]) -> nn.Module:
        dim = self.edge_types[edge_type]
        conv = cls((self.hidden, self.hidden), self.channels, heads=self.heads, concat=True, dropout=self.dropout,
                   add_self_loops=False, edge_dim=dim or None)
        conv.load_state_dict({k: v.detach().clone() for k, v in state.items()})
        return conv

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hidden}, edge_types={len(self.edge_types)}, heads={self.heads})"


class HeteroGATConv(_HeteroAttention):
    r"""PyG's ``GATConv`` on every edge type of a layer at once, each type with its own weights.

    For every edge :math:`j \to i` of type :math:`r`, with :math:`K` heads of width :math:`C`:

    .. math::
        \alpha_{ji} = \mathrm{softmax}_j\Big(\mathrm{LeakyReLU}\big(a_{s,r}^\top W_{s,r} h_j
            + a_{d,r}^\top W_{d,r} h_i + a_{e,r}^\top W_{e,r} e_{ji}\big)\Big), \qquad
        h_i' = \sum_r \Big(b_r + \sum_{j \in \mathcal{N}_r(i)} \alpha_{ji} W_{s,r} h_j\Big)

    (softmax over target :math:`i`'s incoming edges of type :math:`r`, per head; heads
    concatenated), what ``GATConv((H, H), H // K, heads=K, add_self_loops=False,
    edge_dim=edge_dim)`` per edge type computes, summed per target, as one set of tensor
    operations: nodes are projected for the types they take part in (the attention vectors
    folded into the weights), scores are gathered per edge, and the weighted sums are one
    sparse matrix product (:mod:`mmgraph.nn.conv.aggregate`).

    Args:
        hidden: Width of node states and messages.
        node_types: Node types of the layout.
        edge_types: ``{edge_type: edge_dim}`` of the layout.
        heads: Attention heads :math:`K` (must divide ``hidden``).
        dropout: Dropout on the attention coefficients.

    Shapes:
        - **input:** ``x`` :math:`(N, H)` and a :class:`~mmgraph.graph.HeteroLayout`
        - **output:** :math:`(N, H)`; attention ``(E_r, K)`` per type
    """

    def __init__(self, hidden: int, node_types: Sequence[str], edge_types: Mapping[EdgeType, int],
                 heads: int = 1, dropout: float = 0.0) -> None:
        super().__init__(hidden, node_types, edge_types, heads, dropout)
        r, k, c = self.num_types, self.heads, self.channels
        self.w_src = nn.Parameter(torch.empty(hidden, r * hidden))
        self.w_dst = nn.Parameter(torch.empty(hidden, r * hidden))
        self.att_src = nn.Parameter(torch.empty(r, k, c))
        self.att_dst = nn.Parameter(torch.empty(r, k, c))
        typed = int(self.edge_row_type.max()) + 1 if self.edge_row_type.numel() else 0
        self.att_edge = nn.Parameter(torch.empty(typed, k, c)) if typed else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot weights and attention vectors, zero biases (as ``GATConv``)."""
        h, k, c = self.hidden, self.heads, self.channels
        for w in (self.w_src, self.w_dst):
            _glorot_(w, h, h)
        for att in (self.att_src, self.att_dst, self.att_edge):
            if att is not None:
                _glorot_(att, k, c)
        self._reset_edge_weights()

    def forward(self, x: Tensor, layout: HeteroLayout, slots: EdgeSlots, context: Optional[Tensor] = None,
                need_weights: bool = False) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        r, k, c, h = self.num_types, self.heads, self.channels, self.hidden
        # a^T (W x) = (W^T a)^T x: the attention vectors folded into the weights; messages and source
        # scores come from one product per node type
        a_src = (self.w_src.view(h, r, k, c) * self.att_src).sum(-1)
        x = pad_nodes(x, slots.plan) if slots.plan.padded else x  # pad once for both projections
        src = self.project(x, slots.plan, torch.cat([self.w_src.view(h, r, h), a_src], 2).view(h, r * (h + k)), "src", h + k)
        a_dst = self.project(x, slots.plan, (self.w_dst.view(h, r, k, c) * self.att_dst).sum(-1).view(h, r * k), "dst", k)
        # cut the tables before gathering: a slice of an (E, ...) tensor costs a full-size copy in backward
        score = src[:, h:].index_select(0, slots.src) + a_dst.index_select(0, slots.dst)
        if self.w_edge is not None:
            assert self.att_edge is not None
            att = self.att_edge.index_select(0, self.edge_row_type)  # each attribute row's own type's vector
            score = score + slots.attr @ (self.w_edge.view(-1, k, c) * att).sum(-1)
        return self._aggregate(src[:, :h], score, layout, slots, need_weights)

    def per_type(self, edge_type: EdgeType) -> nn.Module:
        """A PyG ``GATConv`` holding a copy of ``edge_type``'s weights."""
        from torch_geometric.nn import GATConv

        r, h = self._type_index(edge_type), self.hidden
        dim, row, typed = self._edge_block(r)
        s, q = self.src_groups.rank[r], self.dst_groups.rank[r]
        state = {"lin_src.weight": self.w_src[:, s * h : (s + 1) * h].t(), "lin_dst.weight": self.w_dst[:, q * h : (q + 1) * h].t(),
                 "att_src": self.att_src[s : s + 1], "att_dst": self.att_dst[q : q + 1], "bias": self.bias[r]}
        if dim:
            state.update({"lin_edge.weight": self.w_edge[row : row + dim].t(), "att_edge": self.att_edge[typed : typed + 1]})
        return self._per_type_module(GATConv, edge_type, state)

    def load_per_type(self, states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """Stack the states of one PyG ``GATConv`` per edge type."""
        h = self.hidden
        out = {name: p.detach().clone() for name, p in self.named_parameters()}
        row, typed = 0, 0
        for r, (state, dim) in enumerate(zip(states, self.edge_types.values())):
            s, q = self.src_groups.rank[r], self.dst_groups.rank[r]
            out["w_src"][:, s * h : (s + 1) * h] = state["lin_src.weight"].t()
            out["w_dst"][:, q * h : (q + 1) * h] = state["lin_dst.weight"].t()
            out["att_src"][s], out["att_dst"][q] = state["att_src"][0], state["att_dst"][0]
            out["bias"][r] = state["bias"]
            if dim:
                out["w_edge"][row : row + dim] = state["lin_edge.weight"].t()
                out["att_edge"][typed] = state["att_edge"][0]
                row, typed = row + dim, typed + 1
        return out


class HeteroGATv2Conv(_HeteroAttention):
    r"""PyG's ``GATv2Conv`` on every edge type of a layer at once, each type with its own weights.

    .. math::
        \alpha_{ji} = \mathrm{softmax}_j\Big(a_r^\top \mathrm{LeakyReLU}\big(W_{l,r} h_j + W_{r,r} h_i
            + W_{e,r} e_{ji}\big)\Big), \qquad
        h_i' = \sum_r \Big(b_r + \sum_{j \in \mathcal{N}_r(i)} \alpha_{ji} W_{l,r} h_j\Big)

    (with the biases of :math:`W_l` and :math:`W_r`), what ``GATv2Conv((H, H), H // K, heads=K,
    add_self_loops=False, edge_dim=edge_dim)`` per edge type computes, summed per target.

    Args and shapes: as :class:`HeteroGATConv`.
    """

    def __init__(self, hidden: int, node_types: Sequence[str], edge_types: Mapping[EdgeType, int],
                 heads: int = 1, dropout: float = 0.0) -> None:
        super().__init__(hidden, node_types, edge_types, heads, dropout)
        r = self.num_types
        self.w_l = nn.Parameter(torch.empty(hidden, r * hidden))
        self.b_l = nn.Parameter(torch.empty(r * hidden))
        self.w_r = nn.Parameter(torch.empty(hidden, r * hidden))
        self.b_r = nn.Parameter(torch.empty(r * hidden))
        self.att = nn.Parameter(torch.empty(r, self.heads, self.channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot weights, ``nn.Linear``-style biases of :math:`W_l, W_r`, zero output biases (as ``GATv2Conv``)."""
        h = self.hidden
        for w in (self.w_l, self.w_r):
            _glorot_(w, h, h)
        for b in (self.b_l, self.b_r):
            uniform_(b, 1 / math.sqrt(h))
        _glorot_(self.att, self.heads, self.channels)
        self._reset_edge_weights()

    def forward(self, x: Tensor, layout: HeteroLayout, slots: EdgeSlots, context: Optional[Tensor] = None,
                need_weights: bool = False) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        k, c, e, h = self.heads, self.channels, slots.src.size(0), self.hidden
        x = pad_nodes(x, slots.plan) if slots.plan.padded else x  # pad once for both projections
        xl = self.project(x, slots.plan, self.w_l, "src", h, bias=self.b_l)
        xr = self.project(x, slots.plan, self.w_r, "dst", h, bias=self.b_r)
        z = xl.index_select(0, slots.src) + xr.index_select(0, slots.dst)
        if self.w_edge is not None:
            z = z + slots.attr @ self.w_edge
        att = self.att.view(-1, h).index_select(0, layout.edge_type)  # each edge's own type's vector
        score = (F.leaky_relu(z, 0.2) * att).view(e, k, c).sum(-1)
        return self._aggregate(xl, score, layout, slots, need_weights, leaky=False)

    def per_type(self, edge_type: EdgeType) -> nn.Module:
        """A PyG ``GATv2Conv`` holding a copy of ``edge_type``'s weights."""
        from torch_geometric.nn import GATv2Conv

        r, h = self._type_index(edge_type), self.hidden
        dim, row, _ = self._edge_block(r)
        src = slice(self.src_groups.rank[r] * h, (self.src_groups.rank[r] + 1) * h)
        dst = slice(self.dst_groups.rank[r] * h, (self.dst_groups.rank[r] + 1) * h)
        state = {"lin_l.weight": self.w_l[:, src].t(), "lin_l.bias": self.b_l[src], "lin_r.weight": self.w_r[:, dst].t(),
                 "lin_r.bias": self.b_r[dst], "att": self.att[r : r + 1], "bias": self.bias[r]}
        if dim:
            state["lin_edge.weight"] = self.w_edge[row : row + dim].t()
        return self._per_type_module(GATv2Conv, edge_type, state)

    def load_per_type(self, states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """Stack the states of one PyG ``GATv2Conv`` per edge type."""
        h = self.hidden
        out = {name: p.detach().clone() for name, p in self.named_parameters()}
        row = 0
        for r, (state, dim) in enumerate(zip(states, self.edge_types.values())):
            src = slice(self.src_groups.rank[r] * h, (self.src_groups.rank[r] + 1) * h)
            dst = slice(self.dst_groups.rank[r] * h, (self.dst_groups.rank[r] + 1) * h)
            out["w_l"][:, src], out["b_l"][src] = state["lin_l.weight"].t(), state["lin_l.bias"]
            out["w_r"][:, dst], out["b_r"][dst] = state["lin_r.weight"].t(), state["lin_r.bias"]
            out["att"][r], out["bias"][r] = state["att"][0], state["bias"]
            if dim:
                out["w_edge"][row : row + dim] = state["lin_edge.weight"].t()
                row += dim
        return out
