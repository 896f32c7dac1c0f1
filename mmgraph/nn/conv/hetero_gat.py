"""Graph attention (GAT, GATv2) over every edge type at once, with each type's own weights."""

from __future__ import annotations

import math
from typing import ClassVar, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import softmax as pyg_softmax

from mmgraph.graph.layout import HeteroLayout
from mmgraph.nn.conv.hetero_relational import uniform_
from mmgraph.nn.conv.typed import EdgeAttention, EdgeSlots, EdgeType, TypedConv

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

    def _edge_weights(self) -> Optional[Tensor]:
        """``(R * (D + 1), hidden)``: each type's attribute weights in the block layout, zeros elsewhere."""
        if self.w_edge is None:
            return None
        rows = self.num_types * (self.edge_dim + 1)
        return self.w_edge.new_zeros(rows, self.hidden).index_copy(0, self.edge_rows_index, self.w_edge)

    def _aggregate(self, values: Tensor, score: Tensor, layout: HeteroLayout, slots: EdgeSlots,
                   need_weights: bool, leaky: bool = True) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        """Softmax of ``score (E, heads)`` per (target, type), dropout, weighted sum of ``values (N * R, hidden)``."""
        n, e = layout.num_nodes, slots.src.size(0)
        score = F.leaky_relu(score, 0.2) if leaky else score
        alpha = pyg_softmax(score, slots.dst, num_nodes=n * self.num_types)
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        msg = values.index_select(0, slots.src).view(e, self.heads, self.channels) * alpha.unsqueeze(-1)
        out = msg.new_zeros(n, self.hidden).index_add_(0, layout.edge_index[1], msg.view(e, self.hidden))
        out = out + self.node_bias(self.bias, layout)
        return out, (self.attention(layout, alpha) if need_weights else None)

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
    operations: one matrix product projects every node for every type, scores and messages
    are gathered per edge, and one scatter sums them.

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
        if self.w_edge is not None:
            row = 0
            for dim in self.edge_types.values():
                _glorot_(self.w_edge[row : row + dim], h, dim)
                row += dim
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, layout: HeteroLayout, slots: EdgeSlots, context: Optional[Tensor] = None,
                need_weights: bool = False) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        n, r, k, c = x.size(0), self.num_types, self.heads, self.channels
        xs = (x @ self.w_src).view(n, r, k, c)
        a_src = (xs * self.att_src).sum(-1).view(n * r, k)
        a_dst = ((x @ self.w_dst).view(n, r, k, c) * self.att_dst).sum(-1).view(n * r, k)
        score = a_src.index_select(0, slots.src) + a_dst.index_select(0, slots.dst)
        w_edge = self._edge_weights()
        if w_edge is not None:
            assert self.att_edge is not None
            att = self.att_edge.new_zeros(r * (self.edge_dim + 1), k, c).index_copy(
                0, self.edge_rows_index, self.att_edge.index_select(0, self.edge_row_type))
            score = score + slots.attr @ (w_edge.view(-1, k, c) * att).sum(-1)
        return self._aggregate(xs.view(n * r, self.hidden), score, layout, slots, need_weights)

    def per_type(self, edge_type: EdgeType) -> nn.Module:
        """A PyG ``GATConv`` holding a copy of ``edge_type``'s weights."""
        from torch_geometric.nn import GATConv

        r, h = self._type_index(edge_type), self.hidden
        dim, row, typed = self._edge_block(r)
        state = {"lin_src.weight": self.w_src[:, r * h : (r + 1) * h].t(), "lin_dst.weight": self.w_dst[:, r * h : (r + 1) * h].t(),
                 "att_src": self.att_src[r : r + 1], "att_dst": self.att_dst[r : r + 1], "bias": self.bias[r]}
        if dim:
            state.update({"lin_edge.weight": self.w_edge[row : row + dim].t(), "att_edge": self.att_edge[typed : typed + 1]})
        return self._per_type_module(GATConv, edge_type, state)

    def load_per_type(self, states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """Stack the states of one PyG ``GATConv`` per edge type."""
        h = self.hidden
        out = {name: p.detach().clone() for name, p in self.named_parameters()}
        row, typed = 0, 0
        for r, (state, dim) in enumerate(zip(states, self.edge_types.values())):
            out["w_src"][:, r * h : (r + 1) * h] = state["lin_src.weight"].t()
            out["w_dst"][:, r * h : (r + 1) * h] = state["lin_dst.weight"].t()
            out["att_src"][r], out["att_dst"][r] = state["att_src"][0], state["att_dst"][0]
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
        if self.w_edge is not None:
            row = 0
            for dim in self.edge_types.values():
                _glorot_(self.w_edge[row : row + dim], h, dim)
                row += dim
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, layout: HeteroLayout, slots: EdgeSlots, context: Optional[Tensor] = None,
                need_weights: bool = False) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        n, r, k, c, e = x.size(0), self.num_types, self.heads, self.channels, slots.src.size(0)
        xl = (x @ self.w_l + self.b_l).view(n * r, self.hidden)
        xr = (x @ self.w_r + self.b_r).view(n * r, self.hidden)
        z = xl.index_select(0, slots.src) + xr.index_select(0, slots.dst)
        w_edge = self._edge_weights()
        if w_edge is not None:
            z = z + slots.attr @ w_edge
        z = F.leaky_relu(z, 0.2).view(e, k, c)
        score = torch.einsum("ekc,rkc->erk", z, self.att).reshape(e * r, k).index_select(0, slots.edge)
        return self._aggregate(xl, score, layout, slots, need_weights, leaky=False)

    def per_type(self, edge_type: EdgeType) -> nn.Module:
        """A PyG ``GATv2Conv`` holding a copy of ``edge_type``'s weights."""
        from torch_geometric.nn import GATv2Conv

        r, h = self._type_index(edge_type), self.hidden
        dim, row, _ = self._edge_block(r)
        cols = slice(r * h, (r + 1) * h)
        state = {"lin_l.weight": self.w_l[:, cols].t(), "lin_l.bias": self.b_l[cols], "lin_r.weight": self.w_r[:, cols].t(),
                 "lin_r.bias": self.b_r[cols], "att": self.att[r : r + 1], "bias": self.bias[r]}
        if dim:
            state["lin_edge.weight"] = self.w_edge[row : row + dim].t()
        return self._per_type_module(GATv2Conv, edge_type, state)

    def load_per_type(self, states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """Stack the states of one PyG ``GATv2Conv`` per edge type."""
        h = self.hidden
        out = {name: p.detach().clone() for name, p in self.named_parameters()}
        row = 0
        for r, (state, dim) in enumerate(zip(states, self.edge_types.values())):
            cols = slice(r * h, (r + 1) * h)
            out["w_l"][:, cols], out["b_l"][cols] = state["lin_l.weight"].t(), state["lin_l.bias"]
            out["w_r"][:, cols], out["b_r"][cols] = state["lin_r.weight"].t(), state["lin_r.bias"]
            out["att"][r], out["bias"][r] = state["att"][0], state["bias"]
            if dim:
                out["w_edge"][row : row + dim] = state["lin_edge.weight"].t()
                row += dim
        return out
