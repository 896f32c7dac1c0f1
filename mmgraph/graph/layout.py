"""One index space for a heterogeneous graph: every node type in one row range, every edge type in one edge list."""

from __future__ import annotations

from functools import reduce
from itertools import accumulate
from typing import Any, Mapping, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData

__all__ = ["HeteroLayout", "flatten", "flatten_dicts"]

EdgeType = tuple[str, str, str]


class HeteroLayout(NamedTuple):
    r"""A heterogeneous graph laid out for launch-light message passing.

    Node type ``node_types[t]`` owns rows ``node_ptr[t]:node_ptr[t + 1]`` of the node states;
    edge type ``edge_types[r]`` owns columns ``edge_ptr[r]:edge_ptr[r + 1]`` of ``edge_index``.
    A layer can then run over every edge type with a handful of tensor operations (per-type
    weights gathered by ``edge_type``), and no step needs a value from the device: every
    size is a Python ``int``.

    Attributes:
        node_types: Node types, in row order.
        edge_types: Edge types, in column order.
        edge_dims: Attribute width of each edge type (``0``: none).
        node_ptr: Row offsets of the node types, ``len(node_types) + 1`` ints.
        edge_ptr: Column offsets of the edge types, ``len(edge_types) + 1`` ints.
        edge_index: ``(2, E)`` source and target rows.
        edge_type: ``(E,)`` index of each edge's type.
        edge_attr: ``(E, max(edge_dims))`` attributes, zero-padded per type; ``None`` when
            no type has attributes.
        node_type: ``(N,)`` index of each node's type.
        batch: ``(N,)`` graph of each node (all zeros for one graph).
        num_graphs: Number of graphs.
    """

    node_types: tuple[str, ...]
    edge_types: tuple[EdgeType, ...]
    edge_dims: tuple[int, ...]
    node_ptr: tuple[int, ...]
    edge_ptr: tuple[int, ...]
    edge_index: Tensor
    edge_type: Tensor
    edge_attr: Optional[Tensor]
    node_type: Tensor
    batch: Tensor
    num_graphs: int

    @property
    def num_nodes(self) -> int:
        return self.node_ptr[-1]

    @property
    def num_edges(self) -> int:
        return self.edge_ptr[-1]

    def node_slice(self, node_type: str) -> slice:
        """The rows of ``node_type``."""
        t = self.node_types.index(node_type)
        return slice(self.node_ptr[t], self.node_ptr[t + 1])

    def to(self, *args: Any, **kwargs: Any) -> "HeteroLayout":
        """Move the tensors like :meth:`torch.Tensor.to` (indices keep their dtype)."""
        device = [a for a in args if not isinstance(a, torch.dtype)]
        device_kw = {k: v for k, v in kwargs.items() if k != "dtype"}
        moved = {k: getattr(self, k).to(*device, **device_kw) for k in ("edge_index", "edge_type", "node_type", "batch")}
        attr = None if self.edge_attr is None else self.edge_attr.to(*args, **kwargs)
        return self._replace(edge_attr=attr, **moved)

    def pin_memory(self) -> "HeteroLayout":
        """Page-locked copies of the tensors (for ``DataLoader(pin_memory=True)``)."""
        pinned = {k: getattr(self, k).pin_memory() for k in ("edge_index", "edge_type", "node_type", "batch")}
        attr = None if self.edge_attr is None else self.edge_attr.pin_memory()
        return self._replace(edge_attr=attr, **pinned)


def flatten_dicts(
    node_types: Sequence[str],
    num_nodes: Mapping[str, int],
    edge_types: Mapping[EdgeType, int],
    edge_index_dict: Mapping[EdgeType, Tensor],
    edge_attr_dict: Optional[Mapping[EdgeType, Tensor]] = None,
    batch_dict: Optional[Mapping[str, Tensor]] = None,
    num_graphs: Optional[int] = None,
    device: Optional[torch.device] = None,
    check: bool = False,
) -> HeteroLayout:
    """Lay out per-type edge lists (missing types: no edges; missing attributes: zeros).

    Args:
        node_types: Node types in row order.
        num_nodes: ``{node_type: count}``.
        edge_types: ``{edge_type: edge_dim}`` in column order.
        edge_index_dict: ``{edge_type: (2, E_r)}`` with per-type node indices.
        edge_attr_dict: ``{edge_type: (E_r, edge_dim_r)}``.
        batch_dict: ``{node_type: (N_t,)}`` graph of each node (default: one graph).
        num_graphs: Number of graphs (default 1).
        device: Where the index tensors go (default: that of the first edge list).
        check: Check every edge list's shape and index range (a ``ValueError`` naming the edge
            type); for edge lists that did not come from :class:`~mmgraph.GraphBuilder`.
    """
    edge_attr_dict = edge_attr_dict or {}
    if device is None:
        device = next((ei.device for ei in edge_index_dict.values()), torch.device("cpu"))
    sizes = [int(num_nodes[t]) for t in node_types]
    node_ptr = tuple(accumulate(sizes, initial=0))
    offset = dict(zip(node_types, node_ptr))
    dims = tuple(int(d) for d in edge_types.values())
    width = max(dims, default=0)
    parts, attrs, counts = [], [], []
    for et, dim in zip(edge_types, dims):
        ei = edge_index_dict.get(et)
        ei = torch.empty(2, 0, dtype=torch.long, device=device) if ei is None else ei.to(device)
        if check:
            _check_edges(et, ei, int(num_nodes[et[0]]), int(num_nodes[et[2]]))
        counts.append(ei.size(1))
        parts.append(ei + torch.tensor([[offset[et[0]]], [offset[et[2]]]], device=device))
        if width:
            a = edge_attr_dict.get(et) if dim else None
            a = torch.zeros(ei.size(1), dim, device=device) if a is None else a.to(device)
            attrs.append(F.pad(a, (0, width - dim)))
    types = torch.arange(len(counts), device=device)
    counts_t = torch.tensor(counts, dtype=torch.long, device=device)
    edge_attr = None
    if width:
        dtype = reduce(torch.promote_types, (a.dtype for a in attrs), attrs[0].dtype) if attrs else torch.float32
        edge_attr = torch.cat([a.to(dtype) for a in attrs]) if attrs else torch.zeros(0, width, device=device)
    node_type = torch.arange(len(sizes), device=device).repeat_interleave(torch.tensor(sizes, device=device))
    if batch_dict is None:
        batch = torch.zeros(node_ptr[-1], dtype=torch.long, device=device)
    else:
        batch = torch.cat([batch_dict[t].to(device) for t in node_types]) if node_types else node_type
    return HeteroLayout(
        node_types=tuple(node_types),
        edge_types=tuple(edge_types),
        edge_dims=dims,
        node_ptr=node_ptr,
        edge_ptr=tuple(accumulate(counts, initial=0)),
        edge_index=torch.cat(parts, dim=1) if parts else torch.empty(2, 0, dtype=torch.long, device=device),
        edge_type=types.repeat_interleave(counts_t, output_size=sum(counts)),
        edge_attr=edge_attr,
        node_type=node_type,
        batch=batch,
        num_graphs=1 if num_graphs is None else int(num_graphs),
    )


def _check_edges(edge_type: EdgeType, edge_index: Tensor, n_src: int, n_dst: int) -> None:
    """Raise a ``ValueError`` naming ``edge_type`` for a malformed edge list or an index out of range."""
    if edge_index.dim() != 2 or edge_index.size(0) != 2 or edge_index.is_floating_point() or edge_index.is_complex():
        raise ValueError(f"edge_index_dict[{edge_type}]: expected an integer tensor of shape (2, E), "
                         f"got {edge_index.dtype} of shape {tuple(edge_index.shape)}")
    if edge_index.numel():
        for row, end, n in ((0, "source", n_src), (1, "target", n_dst)):
            lo, hi = int(edge_index[row].min()), int(edge_index[row].max())
            if lo < 0 or hi >= n:
                raise ValueError(f"edge_index_dict[{edge_type}]: {end} indices must lie in [0, {n - 1}] for {n} "
                                 f"{edge_type[0 if row == 0 else 2]!r} nodes, got values in [{lo}, {hi}]")


def flatten(graph: HeteroData, node_types: Sequence[str], edge_types: Mapping[EdgeType, int]) -> HeteroLayout:
    """Lay out a (batched) ``HeteroData`` over the given schema.

    Node and edge types of the schema that the graph lacks get no nodes or edges; types of
    the graph outside the schema are left out.
    """
    num_graphs = int(getattr(graph, "num_graphs", 1) or 1) if hasattr(graph, "_slice_dict") else 1
    present = set(graph.node_types)
    counts = {t: graph[t].num_nodes if t in present else 0 for t in node_types}
    batches = {}
    for t in node_types:
        store = graph[t] if t in present else None
        if store is not None and "batch" in store:
            batches[t] = store.batch
        else:
            batches[t] = torch.zeros(counts[t] or 0, dtype=torch.long)
    edge_index = {et: graph[et].edge_index for et in edge_types if et in graph.edge_types}
    edge_attr = {et: graph[et].edge_attr for et in edge_index if "edge_attr" in graph[et]}
    device = next((ei.device for ei in edge_index.values()), None)
    return flatten_dicts(node_types, counts, edge_types, edge_index, edge_attr, batches, num_graphs, device)
