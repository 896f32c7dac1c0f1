"""The interface of a heterogeneous convolution that runs over every edge type at once."""

from __future__ import annotations

from itertools import accumulate
from typing import ClassVar, Mapping, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.graph.layout import HeteroLayout
from mmgraph.nn.conv.aggregate import SparsePlan

__all__ = ["TypedConv", "EdgeAttention", "EdgeSlots", "Groups", "Plan", "pad_nodes", "segment_softmax", "edge_key", "split_attention"]

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


class Groups(NamedTuple):
    """How the edge types group by the node type at one of their ends (all sources, or all targets).

    Per-type weights that act on that end are stored group by group, so each node type's
    nodes are projected for exactly the edge types it takes part in.

    Attributes:
        order: The edge types (indices), grouped by node type in node-type order.
        rank: ``rank[r]``: the position of edge type ``r`` in ``order``.
        ptr: Node type ``t`` owns ``order[ptr[t]:ptr[t + 1]]``.
    """

    order: tuple[int, ...]
    rank: tuple[int, ...]
    ptr: tuple[int, ...]

    @classmethod
    def of(cls, ends: Sequence[int], num_node_types: int) -> "Groups":
        order = tuple(r for t in range(num_node_types) for r, end in enumerate(ends) if end == t)
        counts = [sum(1 for end in ends if end == t) for t in range(num_node_types)]
        rank = tuple(order.index(r) for r in range(len(ends)))
        return cls(order, rank, tuple(accumulate(counts, initial=0)))

    def count(self, t: int) -> int:
        return self.ptr[t + 1] - self.ptr[t]

    @property
    def widest(self) -> int:
        return max([0] + [self.count(t) for t in range(len(self.ptr) - 1)])


class Plan(NamedTuple):
    """How one forward pass lays out its per-(node, edge type) tables.

    A source table has a row for every (node, edge type leaving the node's type), a target
    table for every (node, edge type entering it). *Packed* tables hold exactly those rows,
    node after node, and are computed with one matrix product per node type. *Padded*
    tables give every node type the same number of nodes and of types (the largest), so one
    batched product computes a whole table at a fixed handful of operations whatever the
    number of node types; they are used when padding at most doubles the rows.

    Attributes:
        padded: Padded (else packed) tables.
        sizes: Nodes per node type.
        most: The largest of ``sizes`` (padded tables).
        pad: ``(N,)`` each node's row ``type * most + index within its type`` in a padded node table.
    """

    padded: bool
    sizes: tuple[int, ...]
    most: int
    pad: Optional[Tensor]


class EdgeSlots(NamedTuple):
    """What every layer of a forward pass shares: per-edge indices into per-(node, edge type) tables.

    Tables have a row per (node, edge type at that end of its edges): see :class:`Plan`.

    Attributes:
        src: ``(E,)`` the edge's row in the source table (its source's projection for its type).
        dst: ``(E,)`` the edge's row in the target table: the group of a per-type softmax or sum.
        attr: ``(E, rows)`` the edge features of the rows of the block layout the convolution
            has weights for (its ``edge_rows_index`` buffer; see :meth:`TypedConv.typed_attr`).
        kind: ``(E,)`` the edge's type in target-group order (:attr:`TypedConv.dst_groups`), to
            gather per-type parameters stored in that order.
        pick: ``(E,)`` ``edge * R + kind``: each edge's own type from an ``(E, R, ...)`` product.
        src_rows: Rows of the source table.
        dst_rows: Rows of the target table.
        plan: How the tables are laid out (:class:`Plan`).
        sparse: For convolutions that sum weighted source rows per target: the sparse matrix
            structure of that sum (:func:`~mmgraph.nn.conv.aggregate.sparse_plan`).
    """

    src: Tensor
    dst: Tensor
    attr: Tensor
    kind: Tensor
    pick: Tensor
    src_rows: int
    dst_rows: int
    plan: Plan
    sparse: Optional[SparsePlan] = None


class TypedConv(nn.Module):
    r"""A convolution over all edge types of a heterogeneous graph in one call.

    Subclasses get the schema at construction, hold their per-type weights stacked, and in
    :meth:`forward` map node states ``x`` (every node type in the rows of a
    :class:`~mmgraph.graph.HeteroLayout`) to the summed messages each node receives. They
    declare what they can do:

    - :attr:`accepts_context`: takes a per-node ``context`` (``HeteroGNN(condition=...)``);
    - :attr:`options`: which of ``heads``, ``select_heads``, ``source_heads``, ``dropout`` they use.

    Args:
        hidden: Width of node states and messages.
        node_types: Node types, in the layout's row order.
        edge_types: ``{edge_type: edge_dim}``, in the layout's column order.
        context_dim: Width of the context (``0``: none).
    """

    accepts_context: ClassVar[bool] = False
    options: ClassVar[tuple[str, ...]] = ()
    #: Padded tables are used while they have at most this many times the rows of packed ones (see :class:`Plan`).
    padding_limit: ClassVar[float] = 2.0

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
        self.src_groups = Groups.of(src_type, len(self.node_types))
        self.dst_groups = Groups.of(dst_type, len(self.node_types))
        for side, groups, ends in (("src", self.src_groups, src_type), ("dst", self.dst_groups, dst_type)):
            counts = [groups.count(t) for t in range(len(self.node_types))]
            self.register_buffer(f"{side}_count", torch.tensor(counts, dtype=torch.long), persistent=False)
            pos = [groups.rank[r] - groups.ptr[ends[r]] for r in range(len(ends))]
            self.register_buffer(f"{side}_pos", torch.tensor(pos or [0], dtype=torch.long), persistent=False)
        self.register_buffer("dst_rank", torch.tensor(list(self.dst_groups.rank) or [0], dtype=torch.long),
                             persistent=False)
        self._column_cache: dict[tuple[tuple[int, ...], int, str], Tensor] = {}

    def slots(self, layout: HeteroLayout) -> EdgeSlots:
        """The per-edge indices every layer of one forward pass shares (see :class:`EdgeSlots`)."""
        r = layout.edge_type
        src, dst = layout.edge_index
        kind = self.dst_rank.index_select(0, r)
        pick = torch.arange(r.size(0), device=r.device) * self.num_types + kind
        plan = self.plan(layout)
        return EdgeSlots(self.rows(layout, plan, "src", src, r), self.rows(layout, plan, "dst", dst, r),
                         self.typed_attr(layout, getattr(self, "edge_rows_index", None)), kind, pick,
                         self.table_rows(plan, "src"),
                         self.table_rows(plan, "dst"), plan)

    def typed_attr(self, layout: HeteroLayout, rows: Optional[Tensor]) -> Tensor:
        """``(E, len(rows))``: for each listed row of the block layout, each edge's feature there.

        In the block layout every edge type ``r`` owns ``edge_dim + 1`` columns: its attributes
        (zero-padded) and a 1; an edge is zero outside its own type's block. One product of these
        features with per-type weights gives every edge its own type's weights applied (and bias
        added). Only the listed rows are made, so no ``(E, R * (D + 1))`` tensor exists.
        """
        r = layout.edge_type
        if rows is None or rows.numel() == 0:
            return torch.zeros(r.size(0), 0, dtype=self.receives.dtype, device=r.device)
        width = self.edge_dim + 1
        row_type, column = rows // width, rows % width
        values = _with_one(layout.edge_attr, width, r, self.receives.dtype)  # (E, D + 1)
        return values.index_select(1, column) * (r.unsqueeze(1) == row_type).to(values.dtype)

    def plan(self, layout: HeteroLayout) -> Plan:
        """Padded tables when padding adds at most :attr:`padding_limit` times the rows (node types of similar size), else packed."""
        sizes = tuple(_sizes(layout))
        most = max((0,) + sizes)
        packed = max(sum(n * g.count(t) for t, n in enumerate(sizes)) for g in (self.src_groups, self.dst_groups))
        padded = len(sizes) * most * max(self.src_groups.widest, self.dst_groups.widest)
        if padded > self.padding_limit * packed:
            return Plan(False, sizes, most, None)
        counts = torch.zeros(len(sizes), dtype=torch.long, device=layout.node_type.device).index_add_(
            0, layout.node_type, torch.ones_like(layout.node_type))  # nodes per type, counted on the device
        first = (torch.cumsum(counts, 0) - counts).index_select(0, layout.node_type)
        local = torch.arange(layout.num_nodes, device=layout.node_type.device) - first
        return Plan(True, sizes, most, layout.node_type * most + local)

    def table_rows(self, plan: Plan, side: str) -> int:
        """Rows of the ``side`` table."""
        groups = self.src_groups if side == "src" else self.dst_groups
        if plan.padded:
            return len(plan.sizes) * plan.most * groups.widest
        return sum(n * groups.count(t) for t, n in enumerate(plan.sizes))

    def rows(self, layout: HeteroLayout, plan: Plan, side: str, node: Tensor, r: Tensor) -> Tensor:
        """Row of (``node``, edge type ``r``) in the ``side`` table."""
        pos = getattr(self, f"{side}_pos").index_select(0, r)
        if plan.padded:
            assert plan.pad is not None
            widest = (self.src_groups if side == "src" else self.dst_groups).widest
            return plan.pad.index_select(0, node) * widest + pos
        count = getattr(self, f"{side}_count").index_select(0, layout.node_type)
        first = torch.cumsum(count, 0) - count
        return first.index_select(0, node) + pos

    def project(self, x: Tensor, plan: Plan, weight: Tensor, side: str, width: int,
                bias: Optional[Tensor] = None) -> Tensor:
        """The ``side`` table of ``x @ W_r (+ b_r)`` for every node and each type of its group.

        ``weight`` is ``(F, R * width)`` with type blocks in the group order of ``side``
        (``bias``: ``(R * width,)``). Packed tables take one product per node type, padded
        ones one batched product.
        """
        groups = self.src_groups if side == "src" else self.dst_groups
        if plan.padded:
            return self._project_padded(x, plan, weight, groups, width, bias)
        counts = [groups.count(t) for t in range(len(plan.sizes))]
        xs = x.split(list(plan.sizes))
        ws = weight.split([c * width for c in counts], dim=1)
        bs = bias.split([c * width for c in counts]) if bias is not None else [None] * len(counts)
        parts = [(xt @ wt if bt is None else torch.addmm(bt, xt, wt)).reshape(-1, width)
                 for xt, wt, bt, c in zip(xs, ws, bs, counts) if c and xt.size(0)]
        if not parts:
            return x.new_zeros(0, width)
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    def _project_padded(self, x: Tensor, plan: Plan, weight: Tensor, groups: Groups, width: int,
                        bias: Optional[Tensor]) -> Tensor:
        """One batched product: nodes padded to ``(T, most, F)``, weights to ``(T, F, widest * width)``."""
        t, widest = len(plan.sizes), groups.widest
        xp = x if x.dim() == 3 else pad_nodes(x, plan)
        f = xp.size(-1)
        wp = self._pad_types(weight, groups, width, dim=1).view(f, t, widest * width)
        if bias is None:
            out = torch.bmm(xp, wp.transpose(0, 1))
        else:
            bp = self._pad_types(bias, groups, width, dim=0).view(t, 1, widest * width)
            out = torch.baddbmm(bp, xp, wp.transpose(0, 1))
        return out.view(t * plan.most * widest, width)

    def _pad_types(self, weight: Tensor, groups: Groups, width: int, dim: int) -> Tensor:
        """A grouped weight with every node type's block widened to ``widest`` types (zeros), along ``dim``."""
        if all(groups.count(t) == groups.widest for t in range(len(self.node_types))):
            return weight  # every node type has the same number of types: nothing to pad
        cols = self._padded_columns(groups, width, weight.device)
        shape = list(weight.shape)
        shape[dim] = len(self.node_types) * groups.widest * width
        return weight.new_zeros(shape).index_copy(dim, cols, weight)

    def _padded_columns(self, groups: Groups, width: int, device: torch.device) -> Tensor:
        """Where each column of a grouped ``(F, R * width)`` weight goes in the padded ``(F, T * widest * width)`` one."""
        key = (groups.ptr, width, str(device))
        cols = self._column_cache.get(key)
        if cols is None:
            cols = torch.tensor([t * groups.widest * width + i for t in range(len(self.node_types))
                                 for i in range(groups.count(t) * width)], dtype=torch.long, device=device)
            self._column_cache[key] = cols
        return cols

    def per_target(self, table: Tensor, plan: Plan, weight: Tensor) -> Tensor:
        """``(N, out)``: each node's sum over its incoming types of ``table_row @ W_r`` (zeros for types receiving none).

        ``table`` is a target table (``(rows, w)``); ``weight`` is ``(R * w, out)`` with type
        blocks in target-group order.
        """
        w, out, groups = table.size(1), weight.size(1), self.dst_groups
        if plan.padded:
            t, widest = len(plan.sizes), groups.widest
            assert plan.pad is not None
            wp = self._pad_types(weight, groups, w, dim=0).view(t, widest * w, out)
            res = torch.bmm(table.view(t, plan.most, widest * w), wp)
            return res.view(t * plan.most, out).index_select(0, plan.pad)
        counts = [groups.count(t) for t in range(len(plan.sizes))]
        tables = table.split([n * c for n, c in zip(plan.sizes, counts)])
        ws = weight.split([c * w for c in counts])
        parts = [tt.view(n, c * w) @ wt if c and n else table.new_zeros(n, out)
                 for tt, wt, n, c in zip(tables, ws, plan.sizes, counts)]
        return torch.cat(parts) if len(parts) > 1 else parts[0]

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


def pad_nodes(x: Tensor, plan: Plan) -> Tensor:
    """``(T, most, F)``: node rows of ``x`` placed in a padded table (zeros for missing nodes); ``plan`` must be padded."""
    assert plan.pad is not None
    t, f = len(plan.sizes), x.size(1)
    return x.new_zeros(t * plan.most, f).index_copy(0, plan.pad, x).view(t, plan.most, f)


def segment_softmax(score: Tensor, group: Tensor, num_groups: int) -> Tensor:
    """Softmax of ``score (E, K)`` within each group of rows (``group (E,)``), as PyG's ``softmax`` but leaner."""
    index = group.unsqueeze(1).expand_as(score)
    top = score.new_zeros(num_groups, score.size(1)).scatter_reduce_(0, index, score.detach(), "amax", include_self=False)
    exp = (score - top.index_select(0, group)).exp()
    total = exp.new_zeros(num_groups, score.size(1)).index_add_(0, group, exp) + 1e-16
    return exp / total.index_select(0, group)


def _sizes(layout: HeteroLayout) -> list[int]:
    """Number of nodes of each node type."""
    return [layout.node_ptr[t + 1] - layout.node_ptr[t] for t in range(len(layout.node_types))]


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
