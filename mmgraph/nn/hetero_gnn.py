"""A heterogeneous message-passing stack that reports the attention of every layer and edge type."""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GATv2Conv

from mmgraph.nn.conv.gcn import GCNLayer
from mmgraph.nn.conv.relational import RelationalConv
from mmgraph.nn.conv.typed_relational import TypedRelationalConv

__all__ = ["HeteroGNN", "EdgeAttention", "register_conv", "CONVS", "TYPED", "CONDITIONABLE", "edge_key"]

EdgeType = tuple[str, str, str]


class EdgeAttention(NamedTuple):
    """Weights one layer gave the edges of one edge type.

    Attributes:
        edge_index: ``(2, E)`` edges the weights refer to (source row, target row).
        weight: ``(E, heads)`` attention coefficients (softmax over each target's incoming
            edges of this type); for GCN, the fixed entries of :math:`\\hat{A}` with one "head".
    """

    edge_index: Tensor
    weight: Tensor


def edge_key(edge_type: EdgeType) -> str:
    """``("text", "cross", "image")`` → ``"text__cross__image"`` (a valid ``ModuleDict`` key)."""
    return "__".join(edge_type)


class _Conv(nn.Module):
    """Uniform wrapper: ``(x_src, x_dst, edge_index, edge_attr) -> (out, EdgeAttention | None)``."""

    def forward(
        self,
        x_src: Tensor,
        x_dst: Tensor,
        edge_index: Tensor,
        edge_attr: Optional[Tensor],
        need_weights: bool,
        context: Optional[Tensor] = None,
    ) -> tuple[Tensor, Optional[EdgeAttention]]:
        raise NotImplementedError


class _GCN(_Conv):
    def __init__(self, hidden: int, edge_dim: int, same: bool, heads: int, dropout: float) -> None:
        super().__init__()
        self.conv = GCNLayer(hidden, hidden, act=None, add_self_loops=same)
        self.same = same

    def forward(self, x_src, x_dst, edge_index, edge_attr, need_weights, context=None):  # type: ignore[override]
        x = x_src if self.same else (x_src, x_dst)
        out = self.conv(x, edge_index)
        weights = None
        if need_weights:
            size = x_src.size(0) if self.same else (x_src.size(0), x_dst.size(0))
            ei, coeff = self.conv.normalized_edges(edge_index, size, dtype=x_src.dtype)
            weights = EdgeAttention(ei, coeff.unsqueeze(-1))
        return out, weights


class _GAT(_Conv):
    cls: type = GATConv

    def __init__(self, hidden: int, edge_dim: int, same: bool, heads: int, dropout: float) -> None:
        super().__init__()
        self.conv = self.cls(
            (hidden, hidden),
            hidden // heads,
            heads=heads,
            concat=True,
            dropout=dropout,
            add_self_loops=False,
            edge_dim=edge_dim or None,
        )

    def forward(self, x_src, x_dst, edge_index, edge_attr, need_weights, context=None):  # type: ignore[override]
        if need_weights:
            out, (ei, alpha) = self.conv((x_src, x_dst), edge_index, edge_attr=edge_attr, return_attention_weights=True)
            return out, EdgeAttention(ei, alpha)
        return self.conv((x_src, x_dst), edge_index, edge_attr=edge_attr), None


class _GATv2(_GAT):
    cls = GATv2Conv


class _Relational(_Conv):
    softmax = True

    def __init__(
        self,
        hidden: int,
        edge_dim: int,
        same: bool,
        heads: int,
        dropout: float,
        context_dim: int = 0,
        select_heads: int = 1,
    ) -> None:
        super().__init__()
        self.conv = RelationalConv(
            hidden, hidden, edge_dim=edge_dim, context_dim=context_dim, softmax=self.softmax, heads=select_heads
        )

    def forward(self, x_src, x_dst, edge_index, edge_attr, need_weights, context=None):  # type: ignore[override]
        if need_weights:
            out, gates = self.conv((x_src, x_dst), edge_index, edge_attr, return_gates=True, context=context)
            return out, EdgeAttention(edge_index, gates)
        return self.conv((x_src, x_dst), edge_index, edge_attr, context=context), None


class _RelationalGated(_Relational):
    softmax = False


ConvFactory = Callable[[int, int, bool, int, float], _Conv]

#: Convolutions available to :class:`HeteroGNN` by name: factory(hidden, edge_dim, same, heads, dropout).
#: ``conv`` name of the fused stack: one :class:`~mmgraph.nn.TypedRelationalConv` per layer over all edge types.
TYPED = "typed-relational"

CONVS: dict[str, ConvFactory] = {
    "gcn": _GCN, "gat": _GAT, "gatv2": _GATv2, "relational": _Relational, "relational-gated": _RelationalGated,
}

#: Convolutions that accept a per-node context (``condition=`` of :class:`HeteroGNN`).
CONDITIONABLE = ("relational", "relational-gated", TYPED)


def register_conv(name: str) -> Callable[[ConvFactory], ConvFactory]:
    """Register a convolution factory under ``name`` for :class:`HeteroGNN` (``conv=name``).

    The factory is called as ``factory(hidden, edge_dim, same, heads, dropout)`` and must
    return a module called as ``(x_src, x_dst, edge_index, edge_attr, need_weights)`` that
    returns ``(out, EdgeAttention or None)``.
    """

    def wrap(factory: ConvFactory) -> ConvFactory:
        if name in CONVS:
            raise ValueError(f"a convolution named {name!r} is already registered")
        CONVS[name] = factory
        return factory

    return wrap


_NORMS = ("layer", "batch", None)


def _make_norm(kind: Optional[str], hidden: int) -> nn.Module:
    if kind == "layer":
        return nn.LayerNorm(hidden)
    if kind == "batch":
        return nn.BatchNorm1d(hidden)
    return nn.Identity()


class HeteroGNN(nn.Module):
    r"""A stack of heterogeneous message-passing layers over every edge type.

    Layer :math:`\ell` updates the state of every node :math:`v` of type :math:`t` by summing
    one convolution per edge type :math:`r = (s, \cdot, t)` that ends at :math:`t`:

    .. math::
        m_v = \sum_{r \,:\, \text{dst}(r) = t} \mathrm{conv}_r^{(\ell)}\big(H_s, H_t, E_r\big)_v, \qquad
        h_v \leftarrow h_v + \mathrm{Dropout}\big(\sigma(\mathrm{Norm}_t(m_v))\big)

    (without the residual term if ``residual=False``). Node types that receive no edge type
    keep their state. With ``norm_first=True`` the normalisation moves to the inputs
    (pre-norm, as in pre-LN Transformers): the convolutions see :math:`\mathrm{Norm}_s(H_s)`
    and :math:`h_v \leftarrow h_v + \mathrm{Dropout}(\sigma(m_v))`, so the size of a summed
    message survives (a post-norm rescales it away, which hides counts). ``conv`` chooses the convolution of every edge type:

    - ``"gcn"``: :class:`~mmgraph.nn.GCNLayer`, :math:`\hat{A} H W` with self loops within
      a modality and :math:`D_\text{dst}^{-1/2} A D_\text{src}^{-1/2}` across modalities;
    - ``"gat"`` / ``"gatv2"``: PyG's ``GATConv`` / ``GATv2Conv`` with ``heads`` heads of
      width ``hidden // heads``, using the edge type's ``edge_attr`` in the attention score;
    - ``"relational"``: :class:`~mmgraph.nn.RelationalConv`, messages computed from both
      endpoints and the edge attributes (what a Relation Network computes per pair), each
      weighted by a sigmoid gate (to count) plus a softmax attention (to select);
    - ``"relational-gated"``: the same with gates only (``softmax=False``);
    - ``"typed-relational"``: one :class:`~mmgraph.nn.TypedRelationalConv` per layer over all
      edge types at once (shared weights, a learned embedding per edge type): the same kind
      of messages at a fraction of the cost when there are many edge types.

    With ``condition=t`` (relational convolutions only), every message of every layer also
    sees the mean state of the graph's nodes of type ``t`` (e.g. ``"question"``), recomputed
    at each layer: the messages are :math:`g(h_i, h_j, e_{ji}, \bar h_t)`, what a Relation
    Network's :math:`g_\theta(o_i, o_j, q)` computes, on any graph.

    Unlike PyG's ``HeteroConv``, :meth:`forward` can return the attention weights of every
    layer and edge type (``return_attention=True``).

    Args:
        node_types: All node types.
        edge_types: ``{edge_type: edge_dim}`` (``edge_dim = 0``: no attributes), e.g. from
            :meth:`mmgraph.GraphBuilder.edge_types`.
        hidden: Width of every node state.
        num_layers: Number of message-passing layers.
        conv: A name in :data:`CONVS`.
        heads: Attention heads (GAT/GATv2); must divide ``hidden``.
        dropout: Dropout on layer outputs (and on attention coefficients for GAT/GATv2).
        norm: ``"layer"``, ``"batch"`` or ``None``.
        residual: Add each layer's input to its output.
        act: Activation :math:`\sigma`.
        norm_first: Normalise each layer's inputs instead of its messages (pre-norm).
        select_heads: Softmax heads of ``conv="relational"`` (see :class:`~mmgraph.nn.RelationalConv`;
            ``heads`` is for GAT/GATv2).
        condition: Node type whose per-graph mean conditions every message (``None``: off);
            needs ``conv="relational"`` or ``"typed-relational"`` and ``batch_dict`` in
            :meth:`forward`.

    Shapes:
        - **input:** ``x_dict[t]``: :math:`(N_t, H)`; ``edge_index_dict[r]``: :math:`(2, E_r)`;
          ``edge_attr_dict[r]``: :math:`(E_r, \text{edge\_dim}_r)`
        - **output:** ``x_dict`` with the same shapes, and with ``return_attention=True`` a list
          (one entry per layer) of ``{edge_type: EdgeAttention}``
    """

    def __init__(
        self,
        node_types: Sequence[str],
        edge_types: Mapping[EdgeType, int],
        hidden: int,
        num_layers: int = 2,
        conv: str = "gat",
        heads: int = 4,
        dropout: float = 0.0,
        norm: Optional[str] = "layer",
        residual: bool = True,
        act: Callable[[Tensor], Tensor] = F.gelu,
        condition: Optional[str] = None,
        norm_first: bool = False,
        select_heads: int = 1,
    ) -> None:
        super().__init__()
        if conv not in CONVS and conv != TYPED:
            raise ValueError(f"conv: expected one of {sorted([*CONVS, TYPED])}, got {conv!r}")
        if norm not in _NORMS:
            raise ValueError(f"norm: expected one of {list(_NORMS)}, got {norm!r}")
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers: expected a positive int, got {num_layers!r}")
        if conv in ("gat", "gatv2") and (heads < 1 or hidden % heads != 0):
            raise ValueError(f"heads: must divide hidden; got heads={heads}, hidden={hidden}")
        self.node_types = list(node_types)
        if condition is not None:
            if conv not in CONDITIONABLE:
                raise ValueError(f"condition: only conv in {list(CONDITIONABLE)} can be conditioned, got conv={conv!r}")
            if condition not in self.node_types:
                raise ValueError(f"condition: expected a node type in {self.node_types}, got {condition!r}")
        self.condition = condition
        ctx_dim = hidden if condition is not None else 0
        self.edge_types: dict[EdgeType, int] = dict(edge_types)
        for etype in self.edge_types:
            if etype[0] not in self.node_types or etype[2] not in self.node_types:
                raise ValueError(f"edge type {etype} refers to a node type not in {self.node_types}")
        self.hidden, self.num_layers, self.conv_name, self.heads = hidden, num_layers, conv, heads
        self.residual, self.act = residual, act
        self.dropout = nn.Dropout(dropout)
        if conv == TYPED:  # one convolution over all edge types per layer
            self.max_edge_dim = max(self.edge_types.values(), default=0)
            self.convs = nn.ModuleList(
                TypedRelationalConv(hidden, hidden, max(1, len(self.edge_types)), self.max_edge_dim, context_dim=ctx_dim)
                for _ in range(num_layers)
            )
        else:
            factory = CONVS[conv]
            extra: dict[str, int] = {"context_dim": ctx_dim} if ctx_dim else {}
            if select_heads != 1:
                if conv != "relational":
                    raise ValueError(f"select_heads: only conv='relational' has softmax heads, got conv={conv!r}")
                extra["select_heads"] = select_heads
            self.convs = nn.ModuleList(
                nn.ModuleDict(
                    {
                        edge_key(et): factory(hidden, dim, et[0] == et[2], heads, dropout, **extra)
                        for et, dim in self.edge_types.items()
                    }
                )
                for _ in range(num_layers)
            )
        self.receivers = sorted({et[2] for et in self.edge_types}, key=self.node_types.index)
        self.norm_first = bool(norm_first)
        normed = self.node_types if self.norm_first else self.receivers
        self.norms = nn.ModuleList(
            nn.ModuleDict({t: _make_norm(norm, hidden) for t in normed}) for _ in range(num_layers)
        )

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()  # type: ignore[operator]

    def forward(
        self,
        x_dict: Mapping[str, Tensor],
        edge_index_dict: Mapping[EdgeType, Tensor],
        edge_attr_dict: Optional[Mapping[EdgeType, Tensor]] = None,
        return_attention: bool = False,
        batch_dict: Optional[Mapping[str, Tensor]] = None,
        num_graphs: Optional[int] = None,
    ) -> Union[dict[str, Tensor], tuple[dict[str, Tensor], list[dict[EdgeType, EdgeAttention]]]]:
        """Run every layer; ``batch_dict`` (graph index of every node, per type) and ``num_graphs``
        are needed only with ``condition``."""
        for t in self.node_types:
            if t not in x_dict:
                raise ValueError(f"x_dict: missing node type {t!r} (pass an empty (0, {self.hidden}) tensor for none)")
            if x_dict[t].dim() != 2 or x_dict[t].size(-1) != self.hidden:
                raise ValueError(f"x_dict[{t!r}]: expected shape (num_nodes, {self.hidden}), got {tuple(x_dict[t].shape)}")
        edge_attr_dict = edge_attr_dict or {}
        if self.condition is not None:
            if batch_dict is None or num_graphs is None:
                raise ValueError(f"HeteroGNN(condition={self.condition!r}) needs batch_dict and num_graphs in forward")
            missing = [t for t in self.node_types if t not in batch_dict]
            if missing:
                raise ValueError(f"batch_dict: missing node type(s) {missing}")
            for t in self.node_types:
                if batch_dict[t].shape != (x_dict[t].size(0),):
                    raise ValueError(
                        f"batch_dict[{t!r}]: expected shape ({x_dict[t].size(0)},), got {tuple(batch_dict[t].shape)}"
                    )
        if self.conv_name == TYPED:
            return self._forward_typed(dict(x_dict), edge_index_dict, edge_attr_dict, return_attention, batch_dict, num_graphs)
        h = dict(x_dict)
        attention: list[dict[EdgeType, EdgeAttention]] = []
        for layer in range(self.num_layers):
            x = self._inputs(layer, h)
            context = self._context(x, batch_dict, num_graphs)
            msgs: dict[str, Tensor] = {}
            layer_att: dict[EdgeType, EdgeAttention] = {}
            for et, dim in self.edge_types.items():
                src, _, dst = et
                edge_index = edge_index_dict.get(et)
                if edge_index is None:
                    edge_index = torch.empty(2, 0, dtype=torch.long, device=h[dst].device)
                attr = edge_attr_dict.get(et) if dim else None
                if dim and attr is None:
                    attr = h[dst].new_zeros(edge_index.size(1), dim)
                conv = self.convs[layer][edge_key(et)]
                if context is None:  # registered convs need not know about contexts
                    out, att = conv(x[src], x[dst], edge_index, attr, return_attention)
                else:
                    out, att = conv(x[src], x[dst], edge_index, attr, return_attention, context=context[dst])
                msgs[dst] = out if dst not in msgs else msgs[dst] + out
                if att is not None:
                    layer_att[et] = att
            h = self._update(layer, h, msgs)
            attention.append(layer_att)
        return (h, attention) if return_attention else h

    def _context(
        self, h: Mapping[str, Tensor], batch_dict: Optional[Mapping[str, Tensor]], num_graphs: Optional[int]
    ) -> Optional[dict[str, Tensor]]:
        """``{node_type: (N_t, hidden)}``: the mean state of the conditioning type in each node's graph."""
        if self.condition is None:
            return None
        assert batch_dict is not None and num_graphs is not None
        cond = h[self.condition]
        index = batch_dict[self.condition]
        total = cond.new_zeros(num_graphs, self.hidden).index_add_(0, index, cond)
        count = cond.new_zeros(num_graphs).index_add_(0, index, cond.new_ones(index.size(0))).clamp_min(1)
        mean = total / count.unsqueeze(-1)  # graphs without such nodes get zeros
        return {t: mean[batch_dict[t]] for t in self.node_types}

    def _inputs(self, layer: int, h: dict[str, Tensor]) -> dict[str, Tensor]:
        """What the convolutions of ``layer`` see: ``Norm(h)`` with pre-norm, else ``h``."""
        if not self.norm_first:
            return h
        return {t: self.norms[layer][t](x) if x.size(0) else x for t, x in h.items()}

    def _update(self, layer: int, h: dict[str, Tensor], msgs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``h + Dropout(act(Norm(m)))`` (pre-norm: ``h + Dropout(act(m))``) for every type that received messages."""
        new_h = dict(h)
        for t, m in msgs.items():
            if m.size(0) == 0:  # no node of this type in the batch
                continue
            upd = self.dropout(self.act(m if self.norm_first else self.norms[layer][t](m)))
            new_h[t] = h[t] + upd if self.residual else upd
        return new_h

    def _forward_typed(
        self,
        h: dict[str, Tensor],
        edge_index_dict: Mapping[EdgeType, Tensor],
        edge_attr_dict: Mapping[EdgeType, Tensor],
        return_attention: bool,
        batch_dict: Optional[Mapping[str, Tensor]] = None,
        num_graphs: Optional[int] = None,
    ) -> Union[dict[str, Tensor], tuple[dict[str, Tensor], list[dict[EdgeType, EdgeAttention]]]]:
        """All node types in one index space, all edge types in one edge list: one convolution per layer."""
        sizes = [h[t].size(0) for t in self.node_types]
        offsets = dict(zip(self.node_types, torch.tensor([0] + sizes[:-1]).cumsum(0).tolist()))
        device = h[self.node_types[0]].device
        parts, types, attrs, local = [], [], [], []
        for r, (et, dim) in enumerate(self.edge_types.items()):
            src, _, dst = et
            ei = edge_index_dict.get(et)
            if ei is None:
                ei = torch.empty(2, 0, dtype=torch.long, device=device)
            local.append(ei)
            parts.append(torch.stack([ei[0] + offsets[src], ei[1] + offsets[dst]]))
            types.append(torch.full((ei.size(1),), r, dtype=torch.long, device=device))
            if self.max_edge_dim:
                a = edge_attr_dict.get(et) if dim else None
                a = h[dst].new_zeros(ei.size(1), dim) if a is None else a
                attrs.append(F.pad(a, (0, self.max_edge_dim - dim)))
        edge_index = torch.cat(parts, dim=1) if parts else torch.empty(2, 0, dtype=torch.long, device=device)
        edge_type = torch.cat(types) if types else torch.empty(0, dtype=torch.long, device=device)
        edge_attr = torch.cat(attrs) if attrs else None
        counts = [ei.size(1) for ei in local]
        attention: list[dict[EdgeType, EdgeAttention]] = []
        for layer in range(self.num_layers):
            inputs = self._inputs(layer, h)
            x = torch.cat([inputs[t] for t in self.node_types])
            context = self._context(inputs, batch_dict, num_graphs)
            ctx = None if context is None else torch.cat([context[t] for t in self.node_types])
            out, gates = self.convs[layer](x, edge_index, edge_type, edge_attr, return_gates=True, context=ctx)
            per_type = dict(zip(self.node_types, out.split(sizes)))
            h = self._update(layer, h, {t: per_type[t] for t in self.receivers})
            if return_attention:
                attention.append(
                    {et: EdgeAttention(ei, g) for et, ei, g in zip(self.edge_types, local, gates.split(counts))}
                )
        return (h, attention) if return_attention else h

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(conv={self.conv_name!r}, hidden={self.hidden}, "
            f"num_layers={self.num_layers}, edge_types={len(self.edge_types)}"
            + (f", condition={self.condition!r})" if self.condition is not None else ")")
        )
