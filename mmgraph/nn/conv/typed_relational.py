"""One relational message-passing layer over all edge types of a heterogeneous graph at once."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from mmgraph.graph.layout import HeteroLayout
from mmgraph.nn.conv.typed import EdgeAttention, EdgeType, split_attention

__all__ = ["TypedRelationalConv", "TypedRelationalLayer"]


class TypedRelationalConv(MessagePassing):
    r"""Gated relational messages over every edge type in one call, the type given by an embedding.

    All node types share one index space and all edge types one edge list; edge
    :math:`j \to i` of type :math:`r` with attributes :math:`e_{ji}` (zero-padded to
    ``edge_dim``) carries

    .. math::
        u_{ji} = \mathrm{GELU}\big(W_d h_i + W_s h_j + W_e e_{ji} + W_c c_i + t_r\big), \quad
        m_{ji} = W_2 u_{ji} + b_2, \quad
        g_{ji} = \sigma(w^\top m_{ji} + c), \quad
        h_i' = \sum_{j} g_{ji}\, m_{ji},

    where :math:`t_r` is a learned embedding of the edge type and :math:`c_i` an optional
    per-target context (e.g. the question of the target's graph; ``context_dim > 0``). This is
    :class:`~mmgraph.nn.RelationalConv` with weights shared across edge types and the type
    as an input, so a whole heterogeneous layer is a handful of tensor operations instead
    of one convolution per edge type — much faster for graphs with many small edge types.
    It is computed without per-edge matrix products (node-level projections are gathered;
    :math:`W_2` is applied after aggregation).

    Args:
        in_dim: Width of node states.
        out_dim: Width of messages and of the output.
        num_types: Number of edge types.
        edge_dim: Width of the (zero-padded) edge attributes (``0``: none).
        hidden: Width of :math:`u` (default ``out_dim``).
        context_dim: Width of the context :math:`c_i` (``0``: none).

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``edge_index`` :math:`(2, E)`, ``edge_type`` :math:`(E,)`,
          ``edge_attr`` :math:`(E, D)` when ``edge_dim > 0``, ``context`` :math:`(N, C)` when
          ``context_dim > 0``
        - **output:** :math:`(N, \text{out\_dim})`; with ``return_gates=True`` also :math:`(E, 1)`
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        num_types: int,
        edge_dim: int = 0,
        hidden: Optional[int] = None,
        context_dim: int = 0,
    ) -> None:
        super().__init__(aggr="add")
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim), ("num_types", num_types)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TypedRelationalConv: {name} must be a positive int, got {value!r}")
        for name, value in (("edge_dim", edge_dim), ("context_dim", context_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"TypedRelationalConv: {name} must be an int >= 0, got {value!r}")
        self.context_dim = context_dim
        hidden = hidden or out_dim
        self.in_dim, self.out_dim, self.num_types, self.edge_dim, self.hidden = in_dim, out_dim, num_types, edge_dim, hidden
        self.lin_dst = nn.Linear(in_dim, hidden, bias=False)
        self.lin_src = nn.Linear(in_dim, hidden, bias=False)
        self.lin_edge = nn.Linear(edge_dim, hidden, bias=False) if edge_dim else None
        self.lin_ctx = nn.Linear(context_dim, hidden, bias=False) if context_dim else None
        self.type_emb = nn.Embedding(num_types, hidden)
        self.lin2 = nn.Linear(hidden, out_dim)
        self.gate = nn.Linear(out_dim, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for layer in (self.lin_dst, self.lin_src, self.lin_edge, self.lin_ctx, self.lin2, self.gate):
            if layer is not None:
                layer.reset_parameters()
        nn.init.normal_(self.type_emb.weight, std=0.1)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
        edge_attr: Optional[Tensor] = None,
        return_gates: bool = False,
        context: Optional[Tensor] = None,
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        if x.dim() != 2 or x.size(-1) != self.in_dim:
            raise ValueError(f"TypedRelationalConv: x expected shape (num_nodes, {self.in_dim}), got {tuple(x.shape)}")
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"TypedRelationalConv: edge_index expected shape (2, E), got {tuple(edge_index.shape)}")
        num_edges = edge_index.size(1)
        if edge_type.shape != (num_edges,):
            raise ValueError(f"TypedRelationalConv: edge_type expected shape ({num_edges},), got {tuple(edge_type.shape)}")
        if self.edge_dim and (edge_attr is None or edge_attr.shape != (num_edges, self.edge_dim)):
            got = None if edge_attr is None else tuple(edge_attr.shape)
            raise ValueError(f"TypedRelationalConv: edge_attr expected shape ({num_edges}, {self.edge_dim}), got {got}")
        if self.lin_ctx is not None and (context is None or context.shape != (x.size(0), self.context_dim)):
            got = None if context is None else tuple(context.shape)
            raise ValueError(f"TypedRelationalConv: context expected shape ({x.size(0)}, {self.context_dim}), got {got}")
        if self.lin_ctx is None and context is not None:
            raise ValueError("TypedRelationalConv: got a context but context_dim=0; construct it with context_dim > 0")
        src, dst = edge_index
        node_dst = self.lin_dst(x)
        if self.lin_ctx is not None:
            node_dst = node_dst + self.lin_ctx(context)
        pre = node_dst.index_select(0, dst) + self.lin_src(x).index_select(0, src) + self.type_emb.weight.index_select(0, edge_type)
        if self.lin_edge is not None:
            pre = pre + self.lin_edge(edge_attr)
        u = F.gelu(pre)
        w = self.gate.weight.squeeze(0)
        gates = torch.sigmoid(u @ (self.lin2.weight.t() @ w).unsqueeze(-1) + (w @ self.lin2.bias + self.gate.bias))
        agg = self.propagate(edge_index, msg=torch.cat([gates * u, gates], dim=-1), size=(x.size(0), x.size(0)))
        out = agg[:, : self.hidden] @ self.lin2.weight.t() + agg[:, self.hidden :] * self.lin2.bias
        return (out, gates) if return_gates else out

    def message(self, msg: Tensor) -> Tensor:
        return msg

    def __repr__(self) -> str:
        ctx = f", context_dim={self.context_dim}" if self.context_dim else ""
        return (
            f"{self.__class__.__name__}({self.in_dim}, {self.out_dim}, num_types={self.num_types}, "
            f"edge_dim={self.edge_dim}{ctx})"
        )


class TypedRelationalLayer(TypedRelationalConv):
    """:class:`TypedRelationalConv` as a layer of :class:`~mmgraph.nn.HeteroGNN` (``conv="typed-relational"``).

    Takes the schema of a :class:`~mmgraph.graph.HeteroLayout` at construction and the layout in
    :meth:`forward`; attention per edge type is the gate of every edge.
    """

    accepts_context = True
    options: tuple[str, ...] = ()

    def __init__(self, hidden: int, node_types: Sequence[str], edge_types: Mapping[EdgeType, int],
                 context_dim: int = 0) -> None:
        super().__init__(hidden, hidden, max(1, len(edge_types)), max(edge_types.values(), default=0),
                         context_dim=context_dim)
        self.node_types, self.edge_types = list(node_types), dict(edge_types)

    def slots(self, layout: HeteroLayout) -> None:
        return None

    def forward(  # type: ignore[override]
        self, x: Tensor, layout: HeteroLayout, slots: Any = None, context: Optional[Tensor] = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        attr = layout.edge_attr if self.edge_dim else None
        out, gates = super().forward(x, layout.edge_index, layout.edge_type, attr, return_gates=True, context=context)
        return out, (split_attention(layout, gates) if need_weights else None)
