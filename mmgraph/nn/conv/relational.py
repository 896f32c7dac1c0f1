"""A relational message-passing layer: messages see both endpoints and the edge's attributes."""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import softmax as pyg_softmax

__all__ = ["RelationalConv", "check_source_heads", "check_gate_init"]


def check_source_heads(source_heads: object, heads: int, softmax: bool) -> int:
    """``source_heads`` checked against the layer's ``heads``: an int in ``[0, heads]``, ``0`` without the softmax."""
    if not isinstance(source_heads, int) or isinstance(source_heads, bool) or not 0 <= source_heads <= heads:
        raise ValueError(f"source_heads: expected an int from 0 to the number of softmax heads ({heads}), "
                         f"got {source_heads!r}")
    if source_heads and not softmax:
        raise ValueError("source_heads: needs the softmax (softmax=True, conv='relational')")
    return source_heads


def check_gate_init(bias: object) -> float:
    """``bias`` of :meth:`RelationalConv.init_gates` checked: a finite real number."""
    if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not math.isfinite(bias):
        raise ValueError(f"init_gates: expected a finite number (the gate's starting logit), got {bias!r}")
    return float(bias)


class _Stacked:
    """The gate and score layers as one ``(2, out_dim)`` weight and ``(2,)`` bias: one matmul for both."""

    def __init__(self, *layers: nn.Linear) -> None:
        self.weight = torch.cat([layer.weight for layer in layers])
        self.bias = torch.cat([layer.bias for layer in layers])


class RelationalConv(MessagePassing):
    r"""Gated relational messages, in the spirit of the Relation Network's :math:`g_\theta(o_i, o_j, q)`.

    For every edge :math:`j \to i` with attributes :math:`e_{ji}`:

    .. math::
        m_{ji} = \mathrm{MLP}\big([\,h_i \,\|\, h_j \,\|\, e_{ji} \,\|\, c_i\,]\big), \qquad
        g_{ji} = \sigma\big(w^\top m_{ji} + c\big), \qquad
        h_i' = \sum_{j \in \mathcal{N}(i)} g_{ji}\, m_{ji}.

    With ``softmax=True`` (the default) every message is weighted by its gate plus a softmax attention
    over the target's incoming edges,
    :math:`\alpha_{ji} = \mathrm{softmax}_j\big(\tau (a^\top m_{ji} + b + e_{ji}^\top V [h_i \| c_i] + v)\big)`
    with a learned temperature :math:`\tau = e^{s}` (:math:`s` starts at 0); the bilinear
    term lets the target (and its context) weigh the edge attributes directly, e.g. score
    neighbours by minus or plus their distance depending on the question,
    so :math:`h_i' = \sum_j (g_{ji} + \alpha_{ji})\, m_{ji}`: the gates count, the softmax
    selects one neighbour by a learned score (e.g. the closest or furthest object), which a
    sum of independent gates cannot do.

    A *source head* (``source_heads``) normalises the same score over each source's outgoing
    edges instead, :math:`\alpha_{ji} = \mathrm{softmax}_i(\cdot)`: every node sends its
    message to the neighbour it selects, so a node learns *who selected it* (e.g. the objects
    it is the closest to), which a target head can only tell the selecting node.

    Unlike GAT, whose edge attributes only enter the attention score, the message itself
    depends on both endpoints and on the edge (e.g. the relative position of two regions),
    so one layer can compute pairwise relations such as "closest to" or "same shape as".
    The optional context :math:`c_i` (``context_dim > 0``) conditions every message on a
    vector given per target node, typically a summary of the question of the target's
    graph: with it the layer computes what the RN's :math:`g_\theta(o_i, o_j, q)` computes.
    The gates are sigmoids, not a softmax,
    so the sum can count (softmax-normalised attention cannot); they are returned as the
    layer's attention weights (with ``softmax=True``, a second column holds :math:`\alpha`).

    Args:
        in_dim: Width of node states (source and target).
        out_dim: Width of messages and of the output.
        edge_dim: Number of edge-attribute columns (``0``: none).
        hidden: Width of the message MLP's hidden layer (default ``out_dim``).
        context_dim: Width of the per-target context :math:`c_i` (``0``: no context).
        softmax: Add the softmax-attention weights :math:`\alpha` to the gates (``False``:
            gates only).
        heads: Softmax heads :math:`K` (must divide ``hidden``): head :math:`k` has its own
            score, temperature and bilinear term and weights the :math:`k`-th block of the
            hidden layer :math:`u`, i.e. :math:`m_{ji} = W_2 (w_{ji} \otimes u_{ji}) + \bar w_{ji} b_2`
            with :math:`w_{ji,k} = g_{ji} + \alpha_{ji,k}` and :math:`\bar w` their mean, so one
            layer can select several neighbours at once (e.g. the closest and the furthest).
        edge_score_init: Optional ``(heads, edge_dim)`` initial bias of the bilinear term, one
            row per head (see :meth:`init_edge_scores`); ``None``: PyTorch's default initialisation.
        source_heads: How many of the heads (the last ones) are source heads (``0``: none).

    Shapes:
        - **input:** node states :math:`(N, F)` or a pair :math:`((N_s, F), (N_t, F))`,
          ``edge_index`` :math:`(2, E)`, ``edge_attr`` :math:`(E, D)` when ``edge_dim > 0``,
          ``context`` :math:`(N_t, C)` when ``context_dim > 0``
        - **output:** :math:`(N_t, \text{out\_dim})`, and with ``return_gates=True`` also the
          gates :math:`(E, 1)` (:math:`(E, 1 + K)`: gates and :math:`\alpha`, with ``softmax=True``)
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        edge_dim: int = 0,
        hidden: Optional[int] = None,
        context_dim: int = 0,
        softmax: bool = True,
        heads: int = 1,
        edge_score_init: Optional[Sequence[Sequence[float]]] = None,
        source_heads: int = 0,
    ) -> None:
        super().__init__(aggr="add")
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"RelationalConv: {name} must be a positive int, got {value!r}")
        for name, value in (("edge_dim", edge_dim), ("context_dim", context_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"RelationalConv: {name} must be an int >= 0, got {value!r}")
        self.in_dim, self.out_dim, self.edge_dim, self.context_dim = in_dim, out_dim, edge_dim, context_dim
        hidden = hidden or out_dim
        if not isinstance(heads, int) or isinstance(heads, bool) or heads < 1 or hidden % heads:
            raise ValueError(f"RelationalConv: heads must be a positive int dividing hidden ({hidden}), got {heads!r}")
        if heads > 1 and not softmax:
            raise ValueError("RelationalConv: heads > 1 needs softmax=True (the heads are softmax selections)")
        self.heads = heads
        self.source_heads = check_source_heads(source_heads, heads, softmax)
        self.mlp = nn.Sequential(
            nn.Linear(2 * in_dim + edge_dim + context_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim)
        )
        self.gate = nn.Linear(out_dim, 1)
        self.softmax = bool(softmax)
        self.score = nn.Linear(out_dim, heads) if softmax else None
        # log of a learned temperature of the softmax scores: selecting the closest of several
        # near neighbours needs sharp scores, which a scalar on a log scale reaches quickly
        self.log_scale = nn.Parameter(torch.zeros(heads)) if softmax else None
        # the target (and its context) weighs the edge attributes directly in the score
        self.score_edge = nn.Linear(in_dim + context_dim, heads * edge_dim) if softmax and edge_dim else None
        self.edge_score_init: Optional[Tensor] = None
        if edge_score_init is not None:
            self.edge_score_init = self._check_edge_score_init(edge_score_init)
        self.gate_init: Optional[float] = None
        self.reset_parameters()

    def _check_edge_score_init(self, weights: Union[Tensor, Sequence[Sequence[float]]]) -> Tensor:
        if self.score_edge is None:
            raise ValueError("RelationalConv: edge_score_init needs softmax=True and edge_dim > 0")
        w = torch.as_tensor(weights, dtype=torch.float32)
        if w.shape != (self.heads, self.edge_dim):
            raise ValueError(f"RelationalConv: edge_score_init expected shape (heads={self.heads}, "
                             f"edge_dim={self.edge_dim}), got {tuple(w.shape)}")
        return w

    def init_edge_scores(self, weights: Union[Tensor, Sequence[Sequence[float]]]) -> None:
        r"""Set the initial weighting of the edge attributes in each head's score, now and on every reset.

        ``weights[k]`` becomes the bias :math:`v_k` of the bilinear term, so head :math:`k`
        starts by scoring edge :math:`j \to i` with :math:`v_k^\top e_{ji}`. With
        ``Full(attr="pos")`` edges (:math:`e = [\Delta x, \Delta y, d]`), ``[[0, 0, -C], [0, 0, C]]``
        makes the first head start by selecting each node's closest neighbour and the second its
        furthest (sharply for a large :math:`C`); training may move them anywhere.

        Args:
            weights: ``(heads, edge_dim)`` values.
        """
        self.edge_score_init = self._check_edge_score_init(weights)
        self._apply_edge_score_init()

    def init_gates(self, bias: float) -> None:
        r"""Start every edge's gate at :math:`\sigma(\text{bias})`, whatever its message, now and on every reset.

        The gate's weights start at 0 and its bias at ``bias``. With a large negative ``bias``
        (e.g. ``-10``) the layer starts from its softmax selections alone,
        :math:`h_i' \approx \sum_j \alpha_{ji} m_{ji}`, so the selected neighbour's message is not
        mixed with the gated messages of all the others (with the default initialisation every
        gate starts near :math:`0.5`). Training may open the gates again.

        Args:
            bias: The gates' starting logit.
        """
        self.gate_init = check_gate_init(bias)
        self._apply_gate_init()

    def _apply_gate_init(self) -> None:
        if self.gate_init is not None:
            with torch.no_grad():
                self.gate.weight.zero_()
                self.gate.bias.fill_(self.gate_init)

    def _apply_edge_score_init(self) -> None:
        if self.edge_score_init is not None and self.score_edge is not None:
            with torch.no_grad():
                bias = self.score_edge.bias.view(self.heads, self.edge_dim)
                bias.copy_(self.edge_score_init.to(bias))

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for layer in (self.mlp[0], self.mlp[2], self.gate, self.score, self.score_edge):
            if layer is not None:
                layer.reset_parameters()
        if self.log_scale is not None:
            nn.init.zeros_(self.log_scale)
        self._apply_edge_score_init()
        self._apply_gate_init()

    def forward(
        self,
        x: Union[Tensor, Tuple[Tensor, Tensor]],
        edge_index: Tensor,
        edge_attr: Optional[Tensor] = None,
        return_gates: bool = False,
        context: Optional[Tensor] = None,
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        x_src, x_dst = x if isinstance(x, (tuple, list)) else (x, x)
        for name, t in (("x_src", x_src), ("x_dst", x_dst)):
            if t.dim() != 2 or t.size(-1) != self.in_dim:
                raise ValueError(f"RelationalConv: {name} expected shape (num_nodes, {self.in_dim}), got {tuple(t.shape)}")
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"RelationalConv: edge_index expected shape (2, E), got {tuple(edge_index.shape)}")
        num_edges = edge_index.size(1)
        if self.edge_dim:
            if edge_attr is None or edge_attr.shape != (num_edges, self.edge_dim):
                got = None if edge_attr is None else tuple(edge_attr.shape)
                raise ValueError(f"RelationalConv: edge_attr expected shape ({num_edges}, {self.edge_dim}), got {got}")
        else:
            edge_attr = x_src.new_zeros(num_edges, 0)
        if self.context_dim and (context is None or context.shape != (x_dst.size(0), self.context_dim)):
            got = None if context is None else tuple(context.shape)
            raise ValueError(f"RelationalConv: context expected shape ({x_dst.size(0)}, {self.context_dim}), got {got}")
        if not self.context_dim and context is not None:
            raise ValueError("RelationalConv: got a context but context_dim=0; construct it with context_dim > 0")
        src, dst = edge_index
        # The formula, computed without a per-edge matrix product (both are linear maps):
        #   W1 [h_i || h_j || e] = (W1_dst h)_i + (W1_src h)_j + W1_e e  -- node-level products, gathered;
        #   sum_j g_ji (W2 u_ji + b2) = W2 (sum_j g_ji u_ji) + b2 sum_j g_ji  -- W2 after aggregation;
        #   w^T (W2 u + b2) + c = (W2^T w)^T u + (w^T b2 + c)  -- gate (and score) from the hidden layer.
        lin1, lin2 = self.mlp[0], self.mlp[2]
        w_dst, w_src, w_edge, w_ctx = lin1.weight.split([self.in_dim, self.in_dim, self.edge_dim, self.context_dim], dim=1)
        node_dst = x_dst @ w_dst.t()
        if context is not None:  # the context is per target node: fold it into the target's projection
            node_dst = node_dst + context @ w_ctx.t()
        pre = node_dst.index_select(0, dst) + (x_src @ w_src.t()).index_select(0, src) + lin1.bias
        if self.edge_dim:
            pre = pre + edge_attr @ w_edge.t()
        hidden = torch.nn.functional.gelu(pre)  # (E, hidden)
        heads = self.gate if self.score is None else _Stacked(self.gate, self.score)
        logits = hidden @ (lin2.weight.t() @ heads.weight.t()) + (heads.weight @ lin2.bias + heads.bias)  # (E, 1+K)
        gates = torch.sigmoid(logits[:, :1])
        weight = gates
        if self.score is not None:  # softmax of the score over each target's incoming edges
            score = logits[:, 1:]  # (E, K)
            if self.score_edge is not None:  # + e_ji^T V_k [h_i || c_i]: geometry weighed by the target
                query = x_dst if context is None else torch.cat([x_dst, context], dim=-1)
                bilinear = self.score_edge(query).index_select(0, dst).view(num_edges, self.heads, self.edge_dim)
                score = score + (edge_attr.unsqueeze(1) * bilinear).sum(-1)
            z = score * self.log_scale.exp()
            if self.source_heads:  # the last heads over each source's outgoing edges
                n = self.heads - self.source_heads
                alpha = torch.cat([pyg_softmax(z[:, :n], dst, num_nodes=x_dst.size(0)),
                                   pyg_softmax(z[:, n:], src, num_nodes=x_src.size(0))], dim=-1)
            else:
                alpha = pyg_softmax(z, dst, num_nodes=x_dst.size(0))  # (E, K)
            weight = gates + alpha  # (E, K)
            gates = torch.cat([gates, alpha], dim=-1)
        size = (x_src.size(0), x_dst.size(0))
        k = weight.size(-1)
        block = hidden.size(-1) // k
        weighted = (hidden.view(num_edges, k, block) * weight.unsqueeze(-1)).view(num_edges, k * block)  # block k * w_k
        both = self.propagate(edge_index, msg=torch.cat([weighted, weight.mean(-1, keepdim=True)], dim=-1), size=size)
        agg, weight_sum = both.split([hidden.size(-1), 1], dim=-1)  # (N_t, hidden), (N_t, 1)
        out = agg @ lin2.weight.t() + weight_sum * lin2.bias
        return (out, gates) if return_gates else out

    def message(self, msg: Tensor) -> Tensor:
        return msg

    def __repr__(self) -> str:
        ctx = f", context_dim={self.context_dim}" if self.context_dim else ""
        ctx += "" if self.softmax else ", softmax=False"
        ctx += f", heads={self.heads}" if self.heads > 1 else ""
        ctx += f", source_heads={self.source_heads}" if self.source_heads else ""
        return f"{self.__class__.__name__}({self.in_dim}, {self.out_dim}, edge_dim={self.edge_dim}{ctx})"
