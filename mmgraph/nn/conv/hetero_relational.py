"""Relational messages over every edge type at once, with each type's own weights."""

from __future__ import annotations

import math
from typing import ClassVar, Mapping, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.graph.layout import HeteroLayout
from mmgraph.nn.conv.relational import check_gate_init, check_source_heads
from mmgraph.nn.conv.typed import EdgeAttention, EdgeSlots, EdgeType, TypedConv, pad_nodes, segment_softmax

__all__ = ["HeteroRelationalConv", "HeteroGatedRelationalConv", "RelationalSlots"]


def uniform_(tensor: Tensor, bound: float) -> Tensor:
    """Fill ``tensor`` from :math:`U(-b, b)` in place (``nn.Linear``'s default initialisation with ``b = 1/sqrt(fan_in)``)."""
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)


class HeteroRelationalConv(TypedConv):
    r""":class:`~mmgraph.nn.RelationalConv` on every edge type of a layer at once, each type with its own weights.

    For every edge :math:`j \to i` of type :math:`r` with attributes :math:`e_{ji}`:

    .. math::
        u_{ji} = \mathrm{GELU}\big(W^r_d h_i + W^r_s h_j + W^r_e e_{ji} + W^r_c c_i + b^r\big), \quad
        m_{ji} = W^r_2 u_{ji} + b^r_2, \quad g_{ji} = \sigma(w_r^\top m_{ji} + c_r),

    with ``softmax=True`` also :math:`\alpha_{ji} = \mathrm{softmax}_j\big(\tau_r(a_r^\top m_{ji} + b_r
    + e_{ji}^\top V_r [h_i \| c_i] + v_r)\big)` over target :math:`i`'s incoming edges of type
    :math:`r`, and

    .. math::
        h_i' = \sum_r \sum_{j \in \mathcal{N}_r(i)} (g_{ji} + \alpha_{ji})\, m_{ji}

    (``softmax=False``: :math:`g_{ji}` alone). This is exactly what one ``RelationalConv`` per
    edge type computes, summed per target, but as a fixed handful of tensor operations: the
    node projections of all types come from one matrix product and are gathered per edge,
    the edge weights and biases of all types from one product with the block one-hot
    attributes of :class:`~mmgraph.nn.conv.typed.EdgeSlots`, and :math:`W_2` is applied after
    aggregating per ``(target, type)``. With ``heads`` :math:`K > 1`, :math:`\alpha` has
    :math:`K` heads, each weighting its own block of :math:`u`.

    Args:
        hidden: Width of node states, :math:`u` and messages.
        node_types: Node types of the layout.
        edge_types: ``{edge_type: edge_dim}`` of the layout.
        context_dim: Width of the per-node context :math:`c_i` (``0``: none).
        select_heads: Softmax heads :math:`K` (must divide ``hidden``).
        source_heads: How many of the :math:`K` heads (the last ones) normalise over each
            source's outgoing edges of a type instead of each target's incoming ones (see
            :class:`~mmgraph.nn.RelationalConv`).
        softmax: Add the softmax selection to the gates.

    Shapes:
        - **input:** ``x`` :math:`(N, H)`, a :class:`~mmgraph.graph.HeteroLayout`, ``context`` :math:`(N, C)`
        - **output:** :math:`(N, H)`; attention ``(E_r, 1 + K)`` per type: the gate, then the heads
    """

    accepts_context: ClassVar[bool] = True
    options: ClassVar[tuple[str, ...]] = ("select_heads", "source_heads")
    softmax: ClassVar[bool] = True

    def __init__(self, hidden: int, node_types: Sequence[str], edge_types: Mapping[EdgeType, int],
                 context_dim: int = 0, select_heads: int = 1, source_heads: int = 0) -> None:
        super().__init__(hidden, node_types, edge_types, context_dim)
        if not isinstance(select_heads, int) or isinstance(select_heads, bool) or select_heads < 1 \
                or hidden % select_heads:
            raise ValueError(f"select_heads: must be a positive int dividing hidden ({hidden}), got {select_heads!r}")
        if select_heads > 1 and not self.softmax:
            raise ValueError("select_heads > 1 needs the softmax (conv='relational')")
        self.source_heads = check_source_heads(source_heads, select_heads, self.softmax)
        r, h, d, c, k = self.num_types, hidden, self.edge_dim, context_dim, select_heads
        self.heads = k
        # node projections in the group order of their end (see TypedConv.project): target-side ones
        # (W_d, W_c, and per type W_2, gate, score, temperature, V) by target, W_s by source
        self.w_dst = nn.Parameter(torch.empty(h, r * h))
        self.w_src = nn.Parameter(torch.empty(h, r * h))
        self.w_ctx = nn.Parameter(torch.empty(c, r * h)) if c else None
        # per type (type order): its edge_dim rows of W_e^T, then its bias b (only real rows are parameters)
        self.register_buffer("edge_rows_index", self.edge_rows(bias_row=True), persistent=False)
        self.w_edge = nn.Parameter(torch.empty(self.edge_rows_index.numel(), h))
        self.lin2 = nn.Parameter(torch.empty(r, h + 1, h))  # per type: W_2^T rows, then the bias b_2
        # per type: the gate's (w, c), then (softmax) each head's score (a, b): read from m = W_2 u + b_2
        self.heads_w = nn.Parameter(torch.empty(r, 1 + k if self.softmax else 1, h + 1))
        self.log_scale = nn.Parameter(torch.empty(r, k)) if self.softmax else None
        # V (rows of [h_i || c_i]) and v (last row): a column per (type with attributes, head, attribute),
        # types in target-group order; each column's attribute in the block layout, and its head
        order, dims = self.dst_groups.order, list(self.edge_types.values())
        full = [order[q] * (d + 1) + i for q in range(len(order)) for kk in range(k) for i in range(dims[order[q]])]
        heads = [kk for q in range(len(order)) for kk in range(k) for i in range(dims[order[q]])]
        self.score_edge = nn.Parameter(torch.empty(h + c + 1, len(full))) if self.softmax and full else None
        self.register_buffer("bilinear_cols", torch.tensor(full, dtype=torch.long), persistent=False)
        head_of = torch.zeros(len(heads), k)
        head_of[torch.arange(len(heads)), torch.tensor(heads, dtype=torch.long)] = 1.0
        self.register_buffer("bilinear_heads", head_of, persistent=False)
        self.edge_score_init: dict[int, Tensor] = {}
        self.gate_init: Optional[float] = None
        self.reset_parameters()

    def _blocks(self) -> list[tuple[int, int, int, slice, slice]]:
        """Per edge type ``r``: ``(edge_dim, source block, target block, rows of w_edge, columns of score_edge)``."""
        dims = list(self.edge_types.values())
        col_start = {}
        col = 0
        for q in self.dst_groups.order:
            col_start[q] = col
            col += self.heads * dims[q]
        out, row = [], 0
        for r, dim in enumerate(dims):
            cols = slice(col_start[r], col_start[r] + self.heads * dim)
            out.append((dim, self.src_groups.rank[r], self.dst_groups.rank[r], slice(row, row + dim + 1), cols))
            row += dim + 1
        return out

    def reset_parameters(self) -> None:
        """Each type's blocks as ``nn.Linear`` initialises them; the log-temperatures at 0."""
        h, c = self.hidden, self.context_dim
        with torch.no_grad():
            for p in self.parameters():
                p.zero_()
        for dim, s, q, rows, cols in self._blocks():
            bound = 1 / math.sqrt(2 * h + dim + c)
            uniform_(self.w_src[:, s * h : (s + 1) * h], bound)
            for w in (self.w_dst, self.w_ctx):
                if w is not None:
                    uniform_(w[:, q * h : (q + 1) * h], bound)
            uniform_(self.w_edge[rows], bound)
            uniform_(self.lin2[q], 1 / math.sqrt(h))
            uniform_(self.heads_w[q], 1 / math.sqrt(h))
            if self.score_edge is not None:
                uniform_(self.score_edge[:, cols], 1 / math.sqrt(h + c))
        if self.log_scale is not None:
            nn.init.zeros_(self.log_scale)
        for r, weights in self.edge_score_init.items():
            self._set_edge_scores(r, weights)
        self._apply_gate_init()

    def init_gates(self, bias: float) -> None:
        """Start every edge's gate at ``sigmoid(bias)``, now and on every reset.

        See :meth:`mmgraph.nn.RelationalConv.init_gates`.

        Args:
            bias: The gates' starting logit (every edge type).
        """
        self.gate_init = check_gate_init(bias)
        self._apply_gate_init()

    def _apply_gate_init(self) -> None:
        if self.gate_init is not None:
            with torch.no_grad():
                self.heads_w[:, 0, : self.hidden] = 0.0
                self.heads_w[:, 0, self.hidden] = self.gate_init

    def init_edge_scores(self, weights: Union[Tensor, Sequence[Sequence[float]]],
                         edge_type: Optional[EdgeType] = None) -> None:
        r"""Start head :math:`k` of an edge type by scoring edges with :math:`v_k^\top e_{ji}`, now and on every reset.

        See :meth:`mmgraph.nn.RelationalConv.init_edge_scores`.

        Args:
            weights: ``(select_heads, edge_dim)`` values of the edge type.
            edge_type: The edge type (default: every edge type with attributes).
        """
        if self.score_edge is None:
            raise ValueError("init_edge_scores needs the softmax (conv='relational') and edge attributes")
        targets = [edge_type] if edge_type is not None else [et for et, d in self.edge_types.items() if d]
        for et in targets:
            r, dim = self._type_index(et), self.edge_types[et]
            w = torch.as_tensor(weights, dtype=torch.float32)
            if w.shape != (self.heads, dim):
                raise ValueError(f"init_edge_scores: expected shape (select_heads={self.heads}, edge_dim={dim}) "
                                 f"for {et}, got {tuple(w.shape)}")
            self.edge_score_init[r] = w
            self._set_edge_scores(r, w)

    def _set_edge_scores(self, r: int, weights: Tensor) -> None:
        assert self.score_edge is not None
        cols = self._blocks()[r][4]
        with torch.no_grad():
            self.score_edge[-1, cols] = weights.reshape(-1).to(self.score_edge)

    def slots(self, layout: HeteroLayout) -> "RelationalSlots":  # type: ignore[override]
        edges = super().slots(layout)
        bilinear = self.typed_attr(layout, self.bilinear_cols) if self.score_edge is not None else None
        return RelationalSlots(edges, bilinear)

    def forward(self, x: Tensor, layout: HeteroLayout, slots: "RelationalSlots",  # type: ignore[override]
                context: Optional[Tensor] = None, need_weights: bool = False,
                ) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        edges = slots.edges
        e, r, h, k = edges.src.size(0), self.num_types, self.hidden, self.heads
        flat = x if context is None else torch.cat([x, context], dim=-1)  # [h_i || c_i]
        query = pad_nodes(flat, edges.plan) if edges.plan.padded else flat  # pad once: sources read the first columns
        w = self.w_dst if self.w_ctx is None else torch.cat([self.w_dst, self.w_ctx], dim=0)
        node_src = query[..., :h] if edges.plan.padded else x
        pre = self.project(query, edges.plan, w, "dst", h).index_select(0, edges.dst) + self.project(
            node_src, edges.plan, self.w_src, "src", h).index_select(0, edges.src) + edges.attr @ self.w_edge
        u = F.gelu(pre)  # (E, h)
        # gate (and score) through W_2: w^T (W_2 u + b_2) + c = (W_2^T w)^T u + (w^T b_2 + c)
        heads, w2 = self.heads_w[..., :h], self.lin2[:, :h]
        proj = torch.bmm(w2, heads.transpose(1, 2))  # (R, h, 1 + K)
        const = (heads * self.lin2[:, h].unsqueeze(1)).sum(-1) + self.heads_w[..., h]  # (R, 1 + K)
        width = heads.size(1)
        logits = (u @ proj.transpose(0, 1).reshape(h, r * width)).view(e * r, width).index_select(0, edges.pick)
        logits = logits + const.index_select(0, edges.kind)
        gates = torch.sigmoid(logits[:, :1])
        weight, att = gates, gates
        if self.softmax:
            assert self.log_scale is not None
            score = logits[:, 1:]
            if slots.bilinear is not None:  # e_ji^T (V_r [h_i || c_i] + v_r), per head, on the listed attributes only
                assert self.score_edge is not None
                q = torch.addmm(self.score_edge[-1], flat, self.score_edge[:-1]).index_select(0, layout.edge_index[1])
                score = score + (q * slots.bilinear) @ self.bilinear_heads
            scale = self.log_scale.exp().index_select(0, edges.kind)
            if self.source_heads:  # the last heads over each (source, type)'s outgoing edges
                z, s = score * scale, k - self.source_heads
                alpha = torch.cat([segment_softmax(z[:, :s], edges.dst, edges.dst_rows),
                                   segment_softmax(z[:, s:], edges.src * r + edges.kind, edges.src_rows * r)], dim=1)
            else:
                alpha = segment_softmax(score * scale, edges.dst, edges.dst_rows)  # per (target, type)
            weight = gates + alpha
            att = torch.cat([gates, alpha], dim=-1)
        if k == 1:
            msg = torch.cat([u * weight, weight], dim=-1)  # (E, h + 1): W_2 after the sum
        else:  # head k weighs its own block of u
            weighted = (u.view(e, k, h // k) * weight.unsqueeze(-1)).view(e, h)
            msg = torch.cat([weighted, weight.mean(-1, keepdim=True)], dim=-1)
        agg = msg.new_zeros(edges.dst_rows, h + 1).index_add_(0, edges.dst, msg)
        out = self.per_target(agg, edges.plan, self.lin2.view(r * (h + 1), h))
        return out, (self.attention(layout, att) if need_weights else None)

    def load_per_type(self, states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """Stack the states of one :class:`~mmgraph.nn.RelationalConv` per edge type."""
        h, c = self.hidden, self.context_dim
        out = {name: p.detach().clone() for name, p in self.named_parameters()}
        for state, (dim, s, q, rows, cols) in zip(states, self._blocks()):
            w_dst, w_src, w_e, w_c = state["mlp.0.weight"].split([h, h, dim, c], dim=1)
            out["w_dst"][:, q * h : (q + 1) * h], out["w_src"][:, s * h : (s + 1) * h] = w_dst.t(), w_src.t()
            if c:
                out["w_ctx"][:, q * h : (q + 1) * h] = w_c.t()
            out["w_edge"][rows] = torch.cat([w_e.t(), state["mlp.0.bias"].unsqueeze(0)])
            out["lin2"][q, :h], out["lin2"][q, h] = state["mlp.2.weight"].t(), state["mlp.2.bias"]
            out["heads_w"][q, 0, :h], out["heads_w"][q, 0, h] = state["gate.weight"][0], state["gate.bias"][0]
            if self.softmax:
                out["heads_w"][q, 1:, :h], out["heads_w"][q, 1:, h] = state["score.weight"], state["score.bias"]
                out["log_scale"][q] = state["log_scale"]
            if self.score_edge is not None and dim:
                out["score_edge"][:-1, cols] = state["score_edge.weight"].t()
                out["score_edge"][-1, cols] = state["score_edge.bias"]
        return out

    def per_type(self, edge_type: EdgeType) -> nn.Module:
        """A :class:`~mmgraph.nn.RelationalConv` holding a copy of ``edge_type``'s weights (computes its messages)."""
        from mmgraph.nn.conv.relational import RelationalConv

        h, c = self.hidden, self.context_dim
        dim, s, q, rows, cols = self._blocks()[self._type_index(edge_type)]
        conv = RelationalConv(h, h, edge_dim=dim, context_dim=c, softmax=self.softmax, heads=self.heads,
                              source_heads=self.source_heads)
        w_edge = self.w_edge[rows]
        parts = [self.w_dst[:, q * h : (q + 1) * h].t(), self.w_src[:, s * h : (s + 1) * h].t(), w_edge[:dim].t()]
        if c:
            parts.append(self.w_ctx[:, q * h : (q + 1) * h].t())
        state = {"mlp.0.weight": torch.cat(parts, dim=1), "mlp.0.bias": w_edge[dim],
                 "mlp.2.weight": self.lin2[q, :h].t(), "mlp.2.bias": self.lin2[q, h],
                 "gate.weight": self.heads_w[q, :1, :h], "gate.bias": self.heads_w[q, 0, h:]}
        if self.softmax:
            state.update({"score.weight": self.heads_w[q, 1:, :h], "score.bias": self.heads_w[q, 1:, h],
                          "log_scale": self.log_scale[q]})
        if self.score_edge is not None and dim:
            state.update({"score_edge.weight": self.score_edge[:-1, cols].t(), "score_edge.bias": self.score_edge[-1, cols]})
        conv.load_state_dict({k: v.detach().clone() for k, v in state.items()})
        conv.edge_score_init = self.edge_score_init.get(self._type_index(edge_type))  # kept by the copy's resets
        conv.gate_init = self.gate_init
        return conv

    def __repr__(self) -> str:
        extra = f", context_dim={self.context_dim}" if self.context_dim else ""
        extra += f", select_heads={self.heads}" if self.heads > 1 else ""
        return f"{type(self).__name__}({self.hidden}, edge_types={len(self.edge_types)}{extra})"


class RelationalSlots(NamedTuple):
    """:class:`~mmgraph.nn.conv.typed.EdgeSlots` (attributes cut to the rows of ``w_edge``) and the bilinear inputs.

    Attributes:
        edges: The edge slots.
        bilinear: ``(E, C)`` for each column of ``score_edge`` the attribute it weighs (zero for
            edges of other types); ``None`` without the bilinear term.
    """

    edges: EdgeSlots
    bilinear: Optional[Tensor]


class HeteroGatedRelationalConv(HeteroRelationalConv):
    """:class:`HeteroRelationalConv` with gates only (``softmax=False``): messages that count, never select."""

    softmax = False
    options = ()
