"""The interface of a heterogeneous convolution that runs over every edge type at once."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.graph.layout import HeteroLayout

__all__ = ["TypedConv", "EdgeAttention", "EdgeSlots", "edge_key", "split_attention", "PerTypeConv", "PerTypeFactory"]

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


class EdgeSlots(NamedTuple):
    """What every layer of a forward pass shares: per-edge indices into ``(node, edge type)`` tables.

    Attributes:
        src: ``(E,)`` ``source_row * R + type``: row of the source's projection for the edge's type.
        dst: ``(E,)`` ``target_row * R + type``: the group of a per-type softmax or aggregation.
        attr: ``(E, R * (D + 1))`` the edge attributes and a 1 placed in the edge type's block
            (zeros elsewhere), so one matrix product applies per-type edge weights and biases.
        edge: ``(E,)`` ``edge * R + type``: picks each edge's own type from an ``(E, R, ...)`` product.
    """

    src: Tensor
    dst: Tensor
    attr: Tensor
    edge: Tensor


class TypedConv(nn.Module):
    r"""A convolution over all edge types of a heterogeneous graph in one call.

    Subclasses get the schema at construction, hold their per-type weights stacked, and in
    :meth:`forward` map node states ``x`` (every node type in the rows of a
    :class:`~mmgraph.graph.HeteroLayout`) to the summed messages each node receives. They
    declare what they can do:

    - :attr:`accepts_context`: takes a per-node ``context`` (``HeteroGNN(condition=...)``);
    - :attr:`options`: which of ``heads``, ``select_heads``, ``dropout`` they use.

    Args:
        hidden: Width of node states and messages.
        node_types: Node types, in the layout's row order.
        edge_types: ``{edge_type: edge_dim}``, in the layout's column order.
        context_dim: Width of the context (``0``: none).
    """

    accepts_context: ClassVar[bool] = False
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, hidden: int, node_types: Sequence[str], edge_types: Mapping[EdgeType, int],
                 context_dim: int = 0) -> None:
        super().__init__()
        if context_dim and not self.accepts_context:
            raise ValueError(f"{type(self).__name__} takes no context; context_dim must be 0, got {context_dim}")
        self.hidden = hidden
        self.node_types = list(node_types)
        self.edge_types = dict(edge_types)
        self.num_types = max(1, len(self.edge_types))
        self.edge_dim = max(self.edge_types.values(), default=0)
        self.context_dim = context_dim
        src_type = [self.node_types.index(et[0]) for et in self.edge_types]
        dst_type = [self.node_types.index(et[2]) for et in self.edge_types]
        # receives[t, r]: edge type r ends at node type t (its messages and biases reach t)
        receives = torch.zeros(len(self.node_types), self.num_types)
        for r, t in enumerate(dst_type):
            receives[t, r] = 1.0
        self.register_buffer("receives", receives, persistent=False)
        self.src_type, self.dst_type = src_type, dst_type

    def slots(self, layout: HeteroLayout) -> EdgeSlots:
        """The per-edge indices every layer of one forward pass shares (see :class:`EdgeSlots`)."""
        r = layout.edge_type
        src, dst = layout.edge_index
        dtype = self.receives.dtype
        one_hot = F.one_hot(r, self.num_types).to(dtype).unsqueeze(-1)  # (E, R, 1)
        attr = one_hot * _with_one(layout.edge_attr, self.edge_dim + 1, r, dtype).unsqueeze(1)  # (E, R, D + 1)
        edge = torch.arange(r.size(0), device=r.device) * self.num_types + r
        attr = attr.reshape(r.size(0), self.num_types * (self.edge_dim + 1))
        return EdgeSlots(src * self.num_types + r, dst * self.num_types + r, attr, edge)

    def edge_rows(self, bias_row: bool) -> Tensor:
        """Rows of the ``R * (D + 1)`` block layout (see :attr:`EdgeSlots.attr`) that hold real weights.

        For each edge type ``r``: its ``edge_dim`` attribute rows, then (with ``bias_row``) its
        bias row. Stacked weights keep only these rows as parameters (so a model has exactly
        the parameters of one convolution per edge type) and scatter them into the block
        layout at run time.
        """
        d = self.edge_dim + 1
        rows = [r * d + i for r, dim in enumerate(self.edge_types.values()) for i in range(dim)]
        if bias_row:
            rows = sorted(rows + [r * d + self.edge_dim for r in range(len(self.edge_types))])
        return torch.tensor(rows, dtype=torch.long)

    def node_bias(self, bias: Tensor, layout: HeteroLayout) -> Tensor:
        """``(N, H)``: each node's sum of the biases of the edge types that end at its type."""
        return (self.receives @ bias).index_select(0, layout.node_type)

    def forward(self, x: Tensor, layout: HeteroLayout, slots: EdgeSlots, context: Optional[Tensor] = None,
                need_weights: bool = False) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        """``(messages (N, hidden), {edge_type: EdgeAttention} or None)``; attention only with ``need_weights``."""
        raise NotImplementedError

    def attention(self, layout: HeteroLayout, weights: Tensor) -> dict[EdgeType, EdgeAttention]:
        """Split per-edge weights into ``{edge_type: EdgeAttention}`` with each type's own node indices."""
        return split_attention(layout, weights)

    def _type_index(self, edge_type: EdgeType) -> int:
        if edge_type not in self.edge_types:
            raise ValueError(f"edge_type: expected one of {list(self.edge_types)}, got {edge_type!r}")
        return list(self.edge_types).index(edge_type)

    def per_type(self, edge_type: EdgeType) -> nn.Module:
        """A standalone convolution holding a copy of ``edge_type``'s weights, computing its messages alone."""
        raise NotImplementedError(f"{type(self).__name__} has no per-edge-type form")

    def load_per_type(self, states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
        """This module's state from the states of one per-edge-type convolution per edge type.

        Used to load checkpoints saved when :class:`~mmgraph.nn.HeteroGNN` ran one small
        convolution per edge type; subclasses that had such a form implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} has no per-edge-type form to load")


def split_attention(layout: HeteroLayout, weights: Tensor) -> dict[EdgeType, EdgeAttention]:
    """Per-edge ``weights (E, k)`` as ``{edge_type: EdgeAttention}`` with each type's own node indices."""
    out = {}
    for r, et in enumerate(layout.edge_types):
        a, b = layout.edge_ptr[r], layout.edge_ptr[r + 1]
        src, dst = layout.node_slice(et[0]).start, layout.node_slice(et[2]).start
        shift = torch.tensor([[src], [dst]], device=layout.edge_index.device)
        out[et] = EdgeAttention(layout.edge_index[:, a:b] - shift, weights[a:b])
    return out


def _with_one(attr: Optional[Tensor], width: int, r: Tensor, dtype: torch.dtype) -> Tensor:
    """``[attr (zero-padded to width - 1) || 1]`` per edge: ``(E, width)``."""
    ones = torch.ones(r.size(0), 1, device=r.device, dtype=dtype)
    if attr is None or width == 1:
        return ones
    return torch.cat([F.pad(attr.to(dtype), (0, width - 1 - attr.size(1))), ones], dim=1)


#: A per-edge-type convolution factory: ``factory(hidden, edge_dim, same, heads, dropout)`` returns a
#: module called as ``(x_src, x_dst, edge_index, edge_attr, need_weights)`` → ``(out, EdgeAttention | None)``.
PerTypeFactory = Callable[[int, int, bool, int, float], nn.Module]


class PerTypeConv(nn.ModuleDict):
    """One module per edge type (a user's per-edge-type factory), run one after another.

    The slow but general path for convolutions registered with
    :func:`~mmgraph.nn.register_conv` as a per-edge-type factory: each type's module sees its
    own edges, and the messages are summed per target node. :meth:`of` makes the class of a
    factory.
    """

    accepts_context: ClassVar[bool] = False
    options: ClassVar[tuple[str, ...]] = ("heads", "dropout")
    factory: ClassVar[PerTypeFactory]

    def __init__(self, hidden: int, node_types: Sequence[str], edge_types: Mapping[EdgeType, int],
                 heads: int = 1, dropout: float = 0.0) -> None:
        factory = type(self).factory
        super().__init__({edge_key(et): factory(hidden, dim, et[0] == et[2], heads, dropout)
                          for et, dim in edge_types.items()})
        self.node_types, self.edge_types, self.hidden = list(node_types), dict(edge_types), hidden

    @classmethod
    def of(cls, factory: PerTypeFactory, name: str) -> type["PerTypeConv"]:
        """The :class:`PerTypeConv` subclass that builds its per-type modules with ``factory``."""
        return type(f"PerTypeConv[{name}]", (cls,), {"factory": staticmethod(factory)})

    def slots(self, layout: HeteroLayout) -> None:
        return None

    def forward(self, x: Tensor, layout: HeteroLayout, slots: Any = None, context: Optional[Tensor] = None,
                need_weights: bool = False) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        out = torch.zeros_like(x)
        found: dict[EdgeType, EdgeAttention] = {}
        for r, et in enumerate(layout.edge_types):
            s, d = layout.node_slice(et[0]), layout.node_slice(et[2])
            a, b = layout.edge_ptr[r], layout.edge_ptr[r + 1]
            ei = layout.edge_index[:, a:b] - torch.tensor([[s.start], [d.start]], device=x.device)
            dim = layout.edge_dims[r]
            attr = layout.edge_attr[a:b, :dim] if dim and layout.edge_attr is not None else None
            msg, att = self[edge_key(et)](x[s], x[d], ei, attr, need_weights)
            out = out.index_add(0, torch.arange(d.start, d.stop, device=x.device), msg)
            if att is not None:
                found[et] = att
        return out, (found if need_weights else None)
