"""A heterogeneous message-passing stack that reports the attention of every layer and edge type."""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.graph.layout import HeteroLayout, flatten_dicts
from mmgraph.nn.film import FiLM
from mmgraph.nn.conv.hetero_gat import HeteroGATConv, HeteroGATv2Conv
from mmgraph.nn.conv.hetero_gcn import HeteroGCNConv
from mmgraph.nn.conv.hetero_relational import HeteroGatedRelationalConv, HeteroRelationalConv
from mmgraph.nn.conv.per_type import PerTypeConv
from mmgraph.nn.conv.typed import EdgeAttention, TypedConv, edge_key
from mmgraph.nn.conv.typed_relational import TypedRelationalLayer

__all__ = ["HeteroGNN", "TypeLayerNorm", "EdgeAttention", "register_conv", "CONVS", "TYPED", "CONDITIONABLE", "edge_key"]

EdgeType = tuple[str, str, str]
#: ``conv`` name of the stack whose layers share weights across edge types (a learned embedding per type).
TYPED = "typed-relational"
#: Attention heads of a conv that has them when ``heads`` is not given.
DEFAULT_HEADS = 4

#: Convolutions by name. Each is a class built once per layer as
#: ``cls(hidden, node_types, edge_types, **options)`` that runs over every edge type at once
#: (see :class:`~mmgraph.nn.conv.typed.TypedConv`); its ``accepts_context`` and ``options``
#: say what :class:`HeteroGNN` may give it.
CONVS: dict[str, type] = {
    "gcn": HeteroGCNConv, "gat": HeteroGATConv, "gatv2": HeteroGATv2Conv, "relational": HeteroRelationalConv,
    "relational-gated": HeteroGatedRelationalConv, TYPED: TypedRelationalLayer,
}

#: The built-in convolutions that accept a per-node context (``condition=`` of :class:`HeteroGNN`).
CONDITIONABLE = tuple(name for name, cls in CONVS.items() if cls.accepts_context)

#: Per-edge-type modules of the convolutions before they ran over all edge types at once,
#: as saved in older checkpoints: ``convs.<layer>.<edge_key>.conv.<parameter>``.
_PER_TYPE_KEY = re.compile(r"convs\.(\d+)\.([^.]+__[^.]+__[^.]+)\.conv\.(.+)")


def register_conv(name: str) -> Callable[[Any], Any]:
    """Register a convolution under ``name`` for :class:`HeteroGNN` (``conv=name``).

    Either a :class:`~mmgraph.nn.conv.typed.TypedConv` subclass (one module over every edge
    type, declaring ``accepts_context`` and ``options``; it gets every feature a built-in
    convolution has), or a per-edge-type factory called as
    ``factory(hidden, edge_dim, same, heads, dropout)`` that returns a module called as
    ``(x_src, x_dst, edge_index, edge_attr, need_weights)`` → ``(out, EdgeAttention or None)``;
    such modules run one edge type after another.
    """

    def wrap(conv: Any) -> Any:
        if name in CONVS:
            raise ValueError(f"a convolution named {name!r} is already registered")
        typed = isinstance(conv, type) and issubclass(conv, (TypedConv, PerTypeConv, TypedRelationalLayer))
        CONVS[name] = conv if typed else PerTypeConv.of(conv, name)
        return conv

    return wrap


_NORMS = ("layer", "batch", None)


def _make_norm(kind: Optional[str], hidden: int) -> nn.Module:
    if kind == "layer":
        return nn.LayerNorm(hidden)
    if kind == "batch":
        return nn.BatchNorm1d(hidden)
    return nn.Identity()


class TypeLayerNorm(nn.Module):
    """One ``LayerNorm`` per node type, applied to all rows at once (each row scaled and shifted by its type's).

    Args:
        node_types: The node types that have a norm.
        hidden: Width of the rows.
        eps: Added to the variance.

    Shapes:
        - **input:** rows :math:`(N, H)` and each row's type index :math:`(N,)`
        - **output:** :math:`(N, H)`
    """

    def __init__(self, node_types: Sequence[str], hidden: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.node_types, self.hidden, self.eps = list(node_types), hidden, eps
        self.weight = nn.Parameter(torch.ones(len(self.node_types), hidden))
        self.bias = nn.Parameter(torch.zeros(len(self.node_types), hidden))

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)

    def __getitem__(self, node_type: str) -> nn.LayerNorm:
        """A ``LayerNorm`` holding a copy of ``node_type``'s scale and shift."""
        if node_type not in self.node_types:
            raise KeyError(f"no norm for node type {node_type!r}; have {self.node_types}")
        t = self.node_types.index(node_type)
        norm = nn.LayerNorm(self.hidden, eps=self.eps)
        norm.load_state_dict({"weight": self.weight[t].detach().clone(), "bias": self.bias[t].detach().clone()})
        return norm

    def forward(self, x: Tensor, row_type: Tensor) -> Tensor:
        normed = F.layer_norm(x, (self.hidden,), eps=self.eps)
        return torch.addcmul(self.bias.index_select(0, row_type), normed, self.weight.index_select(0, row_type))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.node_types}, {self.hidden})"


class HeteroGNN(nn.Module):
    r"""A stack of heterogeneous message-passing layers over every edge type.

    Layer :math:`\ell` updates the state of every node :math:`v` of type :math:`t` by summing
    the messages of every edge type :math:`r = (s, \cdot, t)` that ends at :math:`t`:

    .. math::
        m_v = \sum_{r \,:\, \text{dst}(r) = t} \mathrm{conv}_r^{(\ell)}\big(H_s, H_t, E_r\big)_v, \qquad
        h_v \leftarrow h_v + \mathrm{Dropout}\big(\sigma(\mathrm{Norm}_t(m_v))\big)

    (without the residual term if ``residual=False``). Node types that receive no edge type
    keep their state. With ``norm_first=True`` the normalisation moves to the inputs
    (pre-norm, as in pre-LN Transformers): the convolutions see :math:`\mathrm{Norm}_s(H_s)`
    and :math:`h_v \leftarrow h_v + \mathrm{Dropout}(\sigma(m_v))`, so the size of a summed
    message survives (a post-norm rescales it away, which hides counts).

    Every layer is **one** convolution over all edge types (each type with its own weights,
    stacked; see :class:`~mmgraph.graph.HeteroLayout`), so a step costs a fixed handful of
    tensor operations however many edge types the graph has, and needs no value from the
    device. ``conv`` chooses it:

    - ``"gcn"``: :class:`~mmgraph.nn.conv.HeteroGCNConv`, :math:`\hat{A}_r H W_r` with self
      loops within a modality and :math:`D_\text{dst}^{-1/2} A D_\text{src}^{-1/2}` across;
    - ``"gat"`` / ``"gatv2"``: :class:`~mmgraph.nn.conv.HeteroGATConv` /
      :class:`~mmgraph.nn.conv.HeteroGATv2Conv`, PyG's ``GATConv`` / ``GATv2Conv`` per type with
      ``heads`` heads of width ``hidden // heads``, using the edge type's ``edge_attr`` in the score;
    - ``"relational"``: :class:`~mmgraph.nn.conv.HeteroRelationalConv`, messages computed from
      both endpoints and the edge attributes (what a Relation Network computes per pair),
      each weighted by a sigmoid gate (to count) plus a softmax attention (to select);
    - ``"relational-gated"``: the same with gates only;
    - ``"typed-relational"``: :class:`~mmgraph.nn.TypedRelationalConv`, the relational
      messages with weights shared across edge types and a learned embedding per type;
    - a name given to :func:`register_conv`, or a :class:`~mmgraph.nn.conv.typed.TypedConv` class.

    With ``condition=t`` (convolutions that accept a context), every message of every layer
    also sees the mean state of the graph's nodes of type ``t`` (e.g. ``"question"``),
    recomputed at each layer: the messages are :math:`g(h_i, h_j, e_{ji}, \bar h_t)`, what a
    Relation Network's :math:`g_\theta(o_i, o_j, q)` computes, on any graph.

    With ``film=t`` (any convolution), the inputs of every layer are modulated by the graph's
    nodes of type ``t``: :math:`h_i \leftarrow (1 + \gamma_\ell(\bar h_t)) \odot h_i + \beta_\ell(\bar h_t)`
    for every node not of type ``t``, with :math:`\bar h_t` the mean state of type ``t`` in
    :math:`i`'s graph at layer :math:`\ell` and one :class:`~mmgraph.nn.FiLM` per layer (identity at
    initialisation), so every layer's node states depend on the question.

    Unlike PyG's ``HeteroConv``, :meth:`forward` can return the attention weights of every
    layer and edge type (``return_attention=True``). :meth:`forward_layout` runs on a
    prebuilt :class:`~mmgraph.graph.HeteroLayout` (what a model uses with graphs built in the
    data loader); :meth:`forward` takes per-type dictionaries and lays them out first.

    Args:
        node_types: All node types.
        edge_types: ``{edge_type: edge_dim}`` (``edge_dim = 0``: no attributes), e.g. from
            :meth:`mmgraph.GraphBuilder.edge_types`.
        hidden: Width of every node state.
        num_layers: Number of message-passing layers.
        conv: A name in :data:`CONVS`, or a convolution class.
        heads: Attention heads of a conv that has them (GAT/GATv2; :data:`DEFAULT_HEADS` if not
            given); must divide ``hidden``. Giving it to a conv without heads is an error.
        dropout: Dropout on layer outputs (and on attention coefficients for GAT/GATv2).
        norm: ``"layer"``, ``"batch"`` or ``None``.
        residual: Add each layer's input to its output.
        act: Activation :math:`\sigma`.
        condition: Node type whose per-graph mean conditions every message (``None``: off).
        film: Node type whose per-graph mean modulates every layer's inputs (``None``: off).
        norm_first: Normalise each layer's inputs instead of its messages (pre-norm).
        select_heads: Softmax heads of ``conv="relational"`` (``heads`` is for GAT/GATv2).
        source_heads: How many of the ``select_heads`` (the last ones) normalise over each
            source's outgoing edges (see :class:`~mmgraph.nn.RelationalConv`).
        gate_init: Start every layer's edge gates at :math:`\sigma(\text{gate\_init})`
            (:meth:`~mmgraph.nn.RelationalConv.init_gates`; relational convolutions only), e.g.
            ``-10`` to start from the softmax selections alone. ``None``: the default initialisation.

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
        conv: Union[str, type] = "gat",
        heads: Optional[int] = None,
        dropout: float = 0.0,
        norm: Optional[str] = "layer",
        residual: bool = True,
        act: Callable[[Tensor], Tensor] = F.gelu,
        condition: Optional[str] = None,
        norm_first: bool = False,
        select_heads: int = 1,
        film: Optional[str] = None,
        source_heads: int = 0,
        gate_init: Optional[float] = None,
    ) -> None:
        super().__init__()
        conv_cls = self._conv_class(conv)
        if gate_init is not None and not hasattr(conv_cls, "init_gates"):
            gated = sorted(n for n, c in CONVS.items() if hasattr(c, "init_gates"))
            raise ValueError(f"gate_init: only a conv with edge gates ({gated}) takes it, got conv={conv!r}")
        if film is not None and film not in node_types:
            raise ValueError(f"film: expected a node type in {list(node_types)}, got {film!r}")
        if norm not in _NORMS:
            raise ValueError(f"norm: expected one of {list(_NORMS)}, got {norm!r}")
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(f"num_layers: expected a positive int, got {num_layers!r}")
        self.node_types = list(node_types)
        self.edge_types: dict[EdgeType, int] = dict(edge_types)
        for etype in self.edge_types:
            if etype[0] not in self.node_types or etype[2] not in self.node_types:
                raise ValueError(f"edge type {etype} refers to a node type not in {self.node_types}")
        if condition is not None:
            if not conv_cls.accepts_context:
                raise ValueError(f"condition: only a conv that accepts a context can be conditioned "
                                 f"(built in: {list(CONDITIONABLE)}), got conv={conv!r}")
            if condition not in self.node_types:
                raise ValueError(f"condition: expected a node type in {self.node_types}, got {condition!r}")
        if select_heads != 1 and "select_heads" not in conv_cls.options:
            raise ValueError(f"select_heads: only conv='relational' has softmax heads, got conv={conv!r}")
        if source_heads != 0 and "source_heads" not in conv_cls.options:
            raise ValueError(f"source_heads: only conv='relational' has softmax heads, got conv={conv!r}")
        if heads is not None and "heads" not in conv_cls.options:
            raise ValueError(f"heads: conv={conv!r} has no attention heads (those with heads: "
                             f"{sorted(n for n, c in CONVS.items() if 'heads' in c.options)}), got heads={heads!r}")
        heads = DEFAULT_HEADS if heads is None else heads
        self.condition, self.film = condition, film
        self.films = nn.ModuleList(FiLM(hidden, hidden) for _ in range(num_layers)) if film is not None else None
        self.conv_name = conv if isinstance(conv, str) else conv_cls.__name__
        self.hidden, self.num_layers, self.heads = hidden, num_layers, heads
        self.residual, self.act = residual, act
        self.dropout = nn.Dropout(dropout)
        given = {"heads": heads, "dropout": dropout, "select_heads": select_heads, "source_heads": source_heads}
        options = {k: given[k] for k in conv_cls.options}
        if condition is not None:
            options["context_dim"] = hidden
        self.convs = nn.ModuleList(
            conv_cls(hidden, self.node_types, self.edge_types, **options) for _ in range(num_layers)
        )
        if gate_init is not None:
            for layer in self.convs:
                layer.init_gates(gate_init)
        self.receivers = sorted({et[2] for et in self.edge_types}, key=self.node_types.index)
        # whether each node type receives messages (a buffer: nothing is copied to the device per step)
        self.register_buffer("receives", torch.tensor([t in self.receivers for t in self.node_types]), persistent=False)
        self.norm_first, self.norm_kind = bool(norm_first), norm
        normed = self.node_types if self.norm_first else self.receivers
        if norm == "layer":  # one module per layer, every node type's scale and shift stacked
            self.norms = nn.ModuleList(TypeLayerNorm(normed, hidden) for _ in range(num_layers))
            rows = [normed.index(t) if t in normed else 0 for t in self.node_types]
            self.register_buffer("norm_rows", torch.tensor(rows, dtype=torch.long), persistent=False)
        else:
            self.norms = nn.ModuleList(
                nn.ModuleDict({t: _make_norm(norm, hidden) for t in normed}) for _ in range(num_layers)
            )

    @staticmethod
    def _conv_class(conv: Union[str, type]) -> Any:
        if isinstance(conv, str):
            if conv not in CONVS:
                raise ValueError(f"conv: expected one of {sorted(CONVS)}, got {conv!r}")
            return CONVS[conv]
        if isinstance(conv, type) and hasattr(conv, "accepts_context") and hasattr(conv, "options"):
            return conv
        raise ValueError(f"conv: expected a name in {sorted(CONVS)} or a TypedConv class, got {conv!r}")

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()  # type: ignore[operator]
        for film in self.films or ():  # after their own layers: FiLM starts as the identity
            film.reset_parameters()

    def forward(
        self,
        x_dict: Mapping[str, Tensor],
        edge_index_dict: Mapping[EdgeType, Tensor],
        edge_attr_dict: Optional[Mapping[EdgeType, Tensor]] = None,
        return_attention: bool = False,
        batch_dict: Optional[Mapping[str, Tensor]] = None,
        num_graphs: Optional[int] = None,
    ) -> Union[dict[str, Tensor], tuple[dict[str, Tensor], list[dict[EdgeType, EdgeAttention]]]]:
        """Run every layer on per-type dictionaries; ``batch_dict`` (graph index of every node, per
        type) and ``num_graphs`` are needed only with ``condition``."""
        self._check_inputs(x_dict, batch_dict, num_graphs)
        device = x_dict[self.node_types[0]].device
        sizes = {t: x_dict[t].size(0) for t in self.node_types}
        layout = flatten_dicts(self.node_types, sizes, self.edge_types, edge_index_dict, edge_attr_dict,
                               batch_dict, num_graphs, device, check=True)
        x = torch.cat([x_dict[t] for t in self.node_types])
        out = self.forward_layout(x, layout, return_attention)
        h, attention = out if return_attention else (out, None)
        split = dict(zip(self.node_types, h.split([sizes[t] for t in self.node_types])))
        return (split, attention) if return_attention else split

    def _check_inputs(self, x_dict: Mapping[str, Tensor], batch_dict: Optional[Mapping[str, Tensor]],
                      num_graphs: Optional[int]) -> None:
        for t in self.node_types:
            if t not in x_dict:
                raise ValueError(f"x_dict: missing node type {t!r} (pass an empty (0, {self.hidden}) tensor for none)")
            if x_dict[t].dim() != 2 or x_dict[t].size(-1) != self.hidden:
                raise ValueError(f"x_dict[{t!r}]: expected shape (num_nodes, {self.hidden}), got {tuple(x_dict[t].shape)}")
        if self.condition is None and self.film is None:
            return
        if batch_dict is None or num_graphs is None:
            what = f"condition={self.condition!r}" if self.condition is not None else f"film={self.film!r}"
            raise ValueError(f"HeteroGNN({what}) needs batch_dict and num_graphs in forward")
        missing = [t for t in self.node_types if t not in batch_dict]
        if missing:
            raise ValueError(f"batch_dict: missing node type(s) {missing}")
        for t in self.node_types:
            if batch_dict[t].shape != (x_dict[t].size(0),):
                raise ValueError(
                    f"batch_dict[{t!r}]: expected shape ({x_dict[t].size(0)},), got {tuple(batch_dict[t].shape)}"
                )

    def prepare(self, layout: HeteroLayout) -> Any:
        """What every layer of a forward pass over ``layout`` shares and depends on the graph alone.

        The convolutions' per-edge indices and table plan (:meth:`TypedConv.slots
        <mmgraph.nn.conv.typed.TypedConv.slots>`). :class:`~mmgraph.graph.GraphCollate` can
        compute it where the data is loaded (``model.collate_fn()`` does), so that a training
        step only does the arithmetic.
        """
        return self.convs[0].slots(layout)

    @property
    def prepare_key(self) -> str:
        """Which preparations this GNN can use: the same convolution class over the same schema."""
        conv = self.convs[0]
        return f"{type(conv).__qualname__}:{getattr(conv, 'padding_limit', '')}:{self.node_types}:{self.edge_types}"

    def forward_layout(
        self, x: Tensor, layout: HeteroLayout, return_attention: bool = False, prepared: Any = None,
    ) -> Union[Tensor, tuple[Tensor, list[dict[EdgeType, EdgeAttention]]]]:
        """Run every layer on node states ``x (N, hidden)`` in the rows of ``layout`` (same node and edge types);
        ``prepared``: :meth:`prepare` of ``layout`` if it was computed beforehand."""
        slots = self.prepare(layout) if prepared is None else prepared
        keep = self._receivers(layout)  # what depends on the graph only is computed once, for every layer
        count = self._condition_count(layout)
        film = self._film_rows(layout)
        attention: list[dict[EdgeType, EdgeAttention]] = []
        for layer, conv in enumerate(self.convs):
            inputs = self._inputs(layer, x, layout)
            if film is not None:
                inputs = self._modulate(layer, inputs, layout, *film)
            msg, att = conv(inputs, layout, slots, self._context(inputs, layout, count), return_attention)
            x = self._update(layer, x, msg, layout, keep)
            if return_attention:
                attention.append(att or {})
        return (x, attention) if return_attention else x

    def _receivers(self, layout: HeteroLayout) -> Tensor:
        """``(N, 1)`` bool: whether each node's type receives messages."""
        if layout.node_types == tuple(self.node_types):
            receives = self.receives
        else:  # a layout of another schema (not the model's own): no buffer to reuse
            receives = torch.tensor([t in self.receivers for t in layout.node_types], device=layout.batch.device)
        return receives.index_select(0, layout.node_type).unsqueeze(-1).to(self._dtype())

    def _condition_count(self, layout: HeteroLayout) -> Optional[Tensor]:
        """``(num_graphs, 1)``: how many conditioning nodes each graph has (at least 1)."""
        if self.condition is None:
            return None
        index = layout.batch[layout.node_slice(self.condition)]
        ones = torch.ones(index.size(0), 1, dtype=self._dtype(), device=index.device)
        return ones.new_zeros(layout.num_graphs, 1).index_add_(0, index, ones).clamp_min(1)

    def _film_rows(self, layout: HeteroLayout) -> Optional[tuple[slice, Tensor, Tensor]]:
        """With ``film``: the source type's rows, ``(num_graphs, 1)`` counts of them, ``(N, 1)`` which nodes to modulate."""
        if self.film is None:
            return None
        rows = layout.node_slice(self.film)
        index = layout.batch[rows]
        ones = torch.ones(index.size(0), 1, dtype=self._dtype(), device=index.device)
        count = ones.new_zeros(layout.num_graphs, 1).index_add_(0, index, ones).clamp_min(1)
        others = (layout.node_type != layout.node_types.index(self.film)).unsqueeze(-1)
        return rows, count, others

    def _modulate(self, layer: int, h: Tensor, layout: HeteroLayout, rows: slice, count: Tensor,
                  others: Tensor) -> Tensor:
        """FiLM of layer ``layer``: every node not of the ``film`` type, by its graph's mean ``film`` state."""
        assert self.films is not None
        context = h.new_zeros(layout.num_graphs, self.hidden).index_add_(0, layout.batch[rows], h[rows]) / count
        gamma, beta = self.films[layer].coefficients(context)
        modulated = FiLM.modulate(h, gamma.index_select(0, layout.batch), beta.index_select(0, layout.batch))
        return torch.where(others, modulated, h)

    def _dtype(self) -> torch.dtype:
        return next((p.dtype for p in self.parameters()), torch.get_default_dtype())

    def _context(self, h: Tensor, layout: HeteroLayout, count: Optional[Tensor]) -> Optional[Tensor]:
        """``(N, hidden)``: the mean state of the conditioning type in each node's graph (zeros if none)."""
        if self.condition is None:
            return None
        assert count is not None
        rows = layout.node_slice(self.condition)
        total = h.new_zeros(layout.num_graphs, self.hidden).index_add_(0, layout.batch[rows], h[rows])
        return (total / count).index_select(0, layout.batch)

    def _per_type(self, x: Tensor, layout: HeteroLayout) -> list[tuple[str, Tensor]]:
        return [(t, x[layout.node_ptr[k] : layout.node_ptr[k + 1]]) for k, t in enumerate(layout.node_types)]

    def _norm(self, layer: int, x: Tensor, layout: HeteroLayout, types: Sequence[str]) -> Tensor:
        """Each node type's norm on its rows (rows of types outside ``types`` pass unchanged).

        Layer norms run as one ``layer_norm`` over all rows with each row's own type's scale
        and shift gathered; other norms (batch norm: statistics per type) run per type.
        """
        norms = self.norms[layer]
        if isinstance(norms, TypeLayerNorm):  # rows of types without a norm are never used
            return norms(x, self._norm_rows(layout))
        return torch.cat([norms[t](v) if t in types and v.size(0) else v for t, v in self._per_type(x, layout)])

    def _norm_rows(self, layout: HeteroLayout) -> Tensor:
        """``(N,)``: each node's row in the stacked norms."""
        if layout.node_types == tuple(self.node_types):
            return self.norm_rows.index_select(0, layout.node_type)
        norm = self.norms[0]
        rows = [norm.node_types.index(t) if t in norm.node_types else 0 for t in layout.node_types]
        return torch.tensor(rows, device=layout.node_type.device).index_select(0, layout.node_type)

    def _inputs(self, layer: int, h: Tensor, layout: HeteroLayout) -> Tensor:
        """What the convolution of ``layer`` sees: ``Norm(h)`` per node type with pre-norm, else ``h``."""
        return self._norm(layer, h, layout, layout.node_types) if self.norm_first else h

    def _update(self, layer: int, h: Tensor, msg: Tensor, layout: HeteroLayout, keep: Tensor) -> Tensor:
        """``h + Dropout(act(Norm(m)))`` (pre-norm: ``h + Dropout(act(m))``) for every type that receives messages."""
        if not self.norm_first:
            msg = self._norm(layer, msg, layout, self.receivers)
        upd = self.act(msg)
        if self.dropout.p > 0:
            upd = self.dropout(upd)
        if self.residual:
            return h + upd * keep  # nodes of types that receive nothing keep their state
        return torch.where(keep.bool(), upd, h)

    def upgrade_state_dict(self, state_dict: dict[str, Any], prefix: str = "") -> None:
        """Rewrite, in place, entries saved when each layer ran one small convolution per edge type.

        Checkpoints of that layout keep loading (:func:`mmgraph.train.load_checkpoint` and
        :meth:`load_state_dict` call this): the per-type weights are stacked into each layer's
        convolution, which computes the same function.
        """
        self._upgrade_norms(state_dict, prefix)
        per_type: dict[int, dict[str, dict[str, Tensor]]] = {}
        for key in [k for k in state_dict if k.startswith(prefix)]:
            match = _PER_TYPE_KEY.fullmatch(key[len(prefix):])
            if match and int(match[1]) < len(self.convs) and isinstance(self.convs[int(match[1])], TypedConv):
                layer, etype, name = int(match[1]), match[2], match[3]
                per_type.setdefault(layer, {}).setdefault(etype, {})[name] = state_dict.pop(key)
        for layer, states in per_type.items():
            conv = self.convs[layer]
            stacked = conv.load_per_type([states.get(edge_key(et), {}) for et in conv.edge_types])
            state_dict.update({f"{prefix}convs.{layer}.{name}": value for name, value in stacked.items()})

    def _upgrade_norms(self, state_dict: dict[str, Any], prefix: str) -> None:
        """``norms.<layer>.<type>.{weight,bias}`` (one LayerNorm per node type) → stacked ``norms.<layer>.{weight,bias}``."""
        for layer, norm in enumerate(self.norms):
            if not isinstance(norm, TypeLayerNorm):
                continue
            for name in ("weight", "bias"):
                keys = [f"{prefix}norms.{layer}.{t}.{name}" for t in norm.node_types]
                if all(k in state_dict for k in keys):
                    state_dict[f"{prefix}norms.{layer}.{name}"] = torch.stack([state_dict.pop(k) for k in keys])

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        self.upgrade_state_dict(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(conv={self.conv_name!r}, hidden={self.hidden}, "
            f"num_layers={self.num_layers}, edge_types={len(self.edge_types)}"
            + (f", condition={self.condition!r})" if self.condition is not None else ")")
        )
