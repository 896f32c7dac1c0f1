"""Relational messages over every edge type at once, with each type's own weights."""

from __future__ import annotations

import math
from typing import ClassVar, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import softmax as pyg_softmax

from mmgraph.graph.layout import HeteroLayout
from mmgraph.nn.conv.typed import EdgeAttention, EdgeSlots, EdgeType, TypedConv

__all__ = ["HeteroRelationalConv", "HeteroGatedRelationalConv"]


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
        softmax: Add the softmax selection to the gates.

    Shapes:
        - **input:** ``x`` :math:`(N, H)`, a :class:`~mmgraph.graph.HeteroLayout`, ``context`` :math:`(N, C)`
        - **output:** :math:`(N, H)`; attention ``(E_r, 1 + K)`` per type: the gate, then the heads
    """

    accepts_context: ClassVar[bool] = True
    options: ClassVar[tuple[str, ...]] = ("select_heads",)
    softmax: ClassVar[bool] = True

    def __init__(self, hidden: int, node_types: Sequence[str], edge_types: Mapping[EdgeType, int],
                 context_dim: int = 0, select_heads: int = 1) -> None:
        super().__init__(hidden, node_types, edge_types, context_dim)
        if not isinstance(select_heads, int) or isinstance(select_heads, bool) or select_heads < 1 \
                or hidden % select_heads:
            raise ValueError(f"select_heads: must be a positive int dividing hidden ({hidden}), got {select_heads!r}")
        if select_heads > 1 and not self.softmax:
            raise ValueError("select_heads > 1 needs the softmax (conv='relational')")
        r, h, d, c, k = self.num_types, hidden, self.edge_dim, context_dim, select_heads
        self.heads = k
        dims = list(self.edge_types.values())
        self.w_dst = nn.Parameter(torch.empty(h, r * h))
        self.w_src = nn.Parameter(torch.empty(h, r * h))
        self.w_ctx = nn.Parameter(torch.empty(c, r * h)) if c else None
        # per type: its edge_dim rows of W_e^T, then its bias b (only real rows are parameters)
        self.register_buffer("edge_rows_index", self.edge_rows(bias_row=True), persistent=False)
        self.w_edge = nn.Parameter(torch.empty(self.edge_rows_index.numel(), h))
        self.lin2 = nn.Parameter(torch.empty(r, h + 1, h))  # per type: W_2^T rows, then the bias b_2
        self.gate = nn.Parameter(torch.empty(r, h + 1))  # per type: w, then c
        self.score = nn.Parameter(torch.empty(r, k, h + 1)) if self.softmax else None
        self.log_scale = nn.Parameter(torch.empty(r, k)) if self.softmax else None
        # per type with attributes: V (rows of [h_i || c_i]) and v (last row), columns (head, attribute)
        cols = [(t * k + kk) * d + i for t, dim in enumerate(dims) for kk in range(k) for i in range(dim)]
        self.register_buffer("score_edge_index", torch.tensor(cols, dtype=torch.long), persistent=False)
        self.score_edge = nn.Parameter(torch.empty(h + c + 1, len(cols))) if self.softmax and cols else None
        self.edge_score_init: dict[int, Tensor] = {}
        self.reset_parameters()

    def _blocks(self) -> list[tuple[int, slice, slice]]:
        """Per edge type: ``(edge_dim, its rows of w_edge, its columns of score_edge)``."""
        out, row, col = [], 0, 0
        for dim in self.edge_types.values():
            out.append((dim, slice(row, row + dim + 1), slice(col, col + self.heads * dim)))
            row, col = row + dim + 1, col + self.heads * dim
        return out

    def reset_parameters(self) -> None:
        """Each type's blocks as ``nn.Linear`` initialises them; the log-temperatures at 0."""
        h, c = self.hidden, self.context_dim
        with torch.no_grad():
            for p in self.parameters():
                p.zero_()
        for r, (dim, rows, cols) in enumerate(self._blocks()):
            bound = 1 / math.sqrt(2 * h + dim + c)
            for w in (self.w_dst, self.w_src, self.w_ctx):
                if w is not None:
                    uniform_(w[:, r * h : (r + 1) * h], bound)
            uniform_(self.w_edge[rows], bound)
            uniform_(self.lin2[r], 1 / math.sqrt(h))
            uniform_(self.gate[r], 1 / math.sqrt(h))
            if self.score is not None:
                uniform_(self.score[r], 1 / math.sqrt(h))
            if self.score_edge is not None:
                uniform_(self.score_edge[:, cols], 1 / math.sqrt(h + c))
        if self.log_scale is not None:
            nn.init.zeros_(self.log_scale)
        for r, weights in self.edge_score_init.items():
            self._set_edge_scores(r, weights)

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
            if et not in self.edge_types:
                raise ValueError(f"edge_type: expected one of {list(self.edge_types)}, got {et!r}")
            r, dim = list(self.edge_types).index(et), self.edge_types[et]
            w = torch.as_tensor(weights, dtype=torch.float32)
            if w.shape != (self.heads, dim):
                raise ValueError(f"init_edge_scores: expected shape (select_heads={self.heads}, edge_dim={dim}) "
                                 f"for {et}, got {tuple(w.shape)}")
            self.edge_score_init[r] = w
            self._set_edge_scores(r, w)

    def _set_edge_scores(self, r: int, weights: Tensor) -> None:
        assert self.score_edge is not None
        _, _, cols = self._blocks()[r]
        with torch.no_grad():
            self.score_edge[-1, cols] = weights.reshape(-1).to(self.score_edge)

    def forward(self, x: Tensor, layout: HeteroLayout, slots: EdgeSlots, context: Optional[Tensor] = None,
                need_weights: bool = False) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        n, e, r, h, k = x.size(0), slots.src.size(0), self.num_types, self.hidden, self.heads
        node_dst = x @ self.w_dst
        if self.w_ctx is not None:
            node_dst = node_dst + context @ self.w_ctx  # the context is per target: fold it in there
        w_edge = self.w_edge.new_zeros(r * (self.edge_dim + 1), h).index_copy(0, self.edge_rows_index, self.w_edge)
        pre = node_dst.view(n * r, h).index_select(0, slots.dst) + (x @ self.w_src).view(n * r, h).index_select(
            0, slots.src) + slots.attr @ w_edge
        u = F.gelu(pre)  # (E, h)
        # gate (and score) through W_2: w^T (W_2 u + b_2) + c = (W_2^T w)^T u + (w^T b_2 + c)
        heads = self.gate.unsqueeze(1) if self.score is None else torch.cat([self.gate.unsqueeze(1), self.score], 1)
        proj = torch.bmm(self.lin2[:, :h], heads[..., :h].transpose(1, 2))  # (R, h, 1 + K)
        const = (heads[..., :h] * self.lin2[:, h].unsqueeze(1)).sum(-1) + heads[..., h]  # (R, 1 + K)
        width = heads.size(1)
        logits = (u @ proj.transpose(0, 1).reshape(h, r * width)).view(e * r, width).index_select(0, slots.edge)
        logits = logits + const.index_select(0, layout.edge_type)
        gates = torch.sigmoid(logits[:, :1])
        weight, att = gates, gates
        if self.score is not None:
            assert self.log_scale is not None
            score = logits[:, 1:]
            if self.score_edge is not None and layout.edge_attr is not None:
                query = x if context is None else torch.cat([x, context], dim=-1)
                se = self.score_edge.new_zeros(self.score_edge.size(0), r * k * self.edge_dim).index_copy(
                    1, self.score_edge_index, self.score_edge)
                bilinear = (query @ se[:-1] + se[-1]).view(n * r, k, self.edge_dim)
                score = score + (layout.edge_attr.unsqueeze(1) * bilinear.index_select(0, slots.dst)).sum(-1)
            scale = self.log_scale.exp().index_select(0, layout.edge_type)
            alpha = pyg_softmax(score * scale, slots.dst, num_nodes=n * r)  # per (target, type)
            weight = gates + alpha
            att = torch.cat([gates, alpha], dim=-1)
        weighted = (u.view(e, k, h // k) * weight.unsqueeze(-1)).view(e, h)
        msg = torch.cat([weighted, weight.mean(-1, keepdim=True)], dim=-1)  # (E, h + 1): W_2 after the sum
        agg = msg.new_zeros(n * r, h + 1).index_add_(0, slots.dst, msg)
        out = agg.view(n, r * (h + 1)) @ self.lin2.view(r * (h + 1), h)
        return out, (self.attention(layout, att) if need_weights else None)

    def load_per_type(self, states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """Stack the states of one :class:`~mmgraph.nn.RelationalConv` per edge type."""
        h, c = self.hidden, self.context_dim
        out = {name: p.detach().clone() for name, p in self.named_parameters()}
        for r, (state, (dim, rows, cols)) in enumerate(zip(states, self._blocks())):
            w_dst, w_src, w_e, w_c = state["mlp.0.weight"].split([h, h, dim, c], dim=1)
            out["w_dst"][:, r * h : (r + 1) * h], out["w_src"][:, r * h : (r + 1) * h] = w_dst.t(), w_src.t()
            if c:
                out["w_ctx"][:, r * h : (r + 1) * h] = w_c.t()
            out["w_edge"][rows] = torch.cat([w_e.t(), state["mlp.0.bias"].unsqueeze(0)])
            out["lin2"][r, :h], out["lin2"][r, h] = state["mlp.2.weight"].t(), state["mlp.2.bias"]
            out["gate"][r, :h], out["gate"][r, h] = state["gate.weight"][0], state["gate.bias"][0]
            if self.score is not None:
                out["score"][r, :, :h], out["score"][r, :, h] = state["score.weight"], state["score.bias"]
                out["log_scale"][r] = state["log_scale"]
            if self.score_edge is not None and dim:
                out["score_edge"][:-1, cols] = state["score_edge.weight"].t()
                out["score_edge"][-1, cols] = state["score_edge.bias"]
        return out

    def per_type(self, edge_type: EdgeType) -> nn.Module:
        """A :class:`~mmgraph.nn.RelationalConv` holding a copy of ``edge_type``'s weights (computes its messages)."""
        from mmgraph.nn.conv.relational import RelationalConv

        r = self._type_index(edge_type)
        h, c = self.hidden, self.context_dim
        dim, rows, cols = self._blocks()[r]
        conv = RelationalConv(h, h, edge_dim=dim, context_dim=c, softmax=self.softmax, heads=self.heads)
        block = slice(r * h, (r + 1) * h)
        w_edge = self.w_edge[rows]
        parts = [self.w_dst[:, block].t(), self.w_src[:, block].t(), w_edge[:dim].t()]
        if c:
            parts.append(self.w_ctx[:, block].t())
        state = {"mlp.0.weight": torch.cat(parts, dim=1), "mlp.0.bias": w_edge[dim],
                 "mlp.2.weight": self.lin2[r, :h].t(), "mlp.2.bias": self.lin2[r, h],
                 "gate.weight": self.gate[r, :h].unsqueeze(0), "gate.bias": self.gate[r, h:]}
        if self.score is not None:
            state.update({"score.weight": self.score[r, :, :h], "score.bias": self.score[r, :, h],
                          "log_scale": self.log_scale[r]})
        if self.score_edge is not None and dim:
            state.update({"score_edge.weight": self.score_edge[:-1, cols].t(), "score_edge.bias": self.score_edge[-1, cols]})
        conv.load_state_dict({k: v.detach().clone() for k, v in state.items()})
        return conv

    def __repr__(self) -> str:
        extra = f", context_dim={self.context_dim}" if self.context_dim else ""
        extra += f", select_heads={self.heads}" if self.heads > 1 else ""
        return f"{type(self).__name__}({self.hidden}, edge_types={len(self.edge_types)}{extra})"


class HeteroGatedRelationalConv(HeteroRelationalConv):
    """:class:`HeteroRelationalConv` with gates only (``softmax=False``): messages that count, never select."""

    softmax = False
    options = ()
