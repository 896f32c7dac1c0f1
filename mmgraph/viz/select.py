"""Pick one sample's graph (and its attention) out of a batched graph."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from mmgraph.nn.hetero_gnn import EdgeAttention

__all__ = ["Attention", "is_batched", "num_graphs", "select_example", "check_attention"]

EdgeType = tuple[str, str, str]
#: What :class:`~mmgraph.nn.HeteroGNN` returns with ``return_attention=True``: one
#: ``{edge_type: EdgeAttention}`` per layer.
Attention = Sequence[Mapping[EdgeType, EdgeAttention]]


def is_batched(graph: HeteroData) -> bool:
    """Whether ``graph`` is a batch of graphs (from :meth:`GraphBuilder.batch` or a model's output)."""
    return any("ptr" in graph[t] for t in graph.node_types)


def num_graphs(graph: HeteroData) -> int:
    """Number of graphs in ``graph`` (1 for a single graph)."""
    if not is_batched(graph):
        return 1
    return int(getattr(graph, "num_graphs", None) or next(graph[t].ptr.numel() - 1 for t in graph.node_types))


def check_attention(attention: object) -> list[dict[EdgeType, EdgeAttention]]:
    """Validate ``attention`` (a list with one ``{edge_type: EdgeAttention}`` per layer) and return it as a list."""
    if not isinstance(attention, (list, tuple)):
        raise ValueError(
            "attention: expected a list with one {edge_type: EdgeAttention} per layer "
            f"(HeteroGNN/GraphFusionModel with return_attention=True), got {type(attention).__name__}"
        )
    out = []
    for layer, entry in enumerate(attention):
        if not isinstance(entry, Mapping):
            raise ValueError(f"attention[{layer}]: expected a {{edge_type: EdgeAttention}} dict, got {type(entry).__name__}")
        for et, att in entry.items():
            if not isinstance(att, EdgeAttention):
                raise ValueError(f"attention[{layer}][{et}]: expected an EdgeAttention, got {type(att).__name__}")
        out.append(dict(entry))
    return out


def _slice(x: Tensor, ptr: Tensor, index: int) -> Tensor:
    return x[int(ptr[index]) : int(ptr[index + 1])]


def select_example(
    graph: HeteroData,
    attention: Optional[Attention] = None,
    index: Optional[int] = None,
    readout: Optional[Mapping[str, Tensor]] = None,
) -> tuple[HeteroData, Optional[list[dict[EdgeType, EdgeAttention]]], Optional[dict[str, Tensor]]]:
    """The graph of sample ``index`` of a batched graph, with its attention and readout weights.

    Node indices in the returned attention are local to the sample (``0 .. N_t - 1``), as in
    ``graph.get_example(index)``. A single (unbatched) graph is returned as it is
    (``index`` must then be ``None`` or ``0``).

    Args:
        graph: A single or batched ``HeteroData``.
        attention: Optional attention of every layer for the same (batched) graph.
        index: Which sample; may be omitted when the batch holds one graph.
        readout: Optional ``{node_type: (N_t,)}`` readout weights for the same graph.

    Returns:
        ``(graph, attention, readout)`` of the sample (``None`` where not given).
    """
    if not isinstance(graph, HeteroData):
        raise ValueError(f"graph: expected a torch_geometric HeteroData, got {type(graph).__name__}")
    att = None if attention is None else check_attention(attention)
    n = num_graphs(graph)
    if index is None:
        if n != 1:
            raise ValueError(f"graph holds {n} graphs: pass example=i (0 <= i < {n}) to pick one")
        index = 0
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
        raise ValueError(f"example: expected an int in [0, {n}), got {index!r}")
    if not is_batched(graph):
        return graph, att, None if readout is None else dict(readout)
    ptr = {t: graph[t].ptr for t in graph.node_types}
    single = graph.get_example(index)
    if att is not None:
        local = []
        for layer in att:
            out: dict[EdgeType, EdgeAttention] = {}
            for et, a in layer.items():
                src, _, dst = et
                if src not in ptr or dst not in ptr:
                    raise ValueError(f"attention: edge type {et} refers to node types not in the graph {graph.node_types}")
                ei = a.edge_index
                lo, hi = int(ptr[dst][index]), int(ptr[dst][index + 1])
                keep = (ei[1] >= lo) & (ei[1] < hi)
                shift = torch.tensor([[int(ptr[src][index])], [lo]], device=ei.device)
                out[et] = EdgeAttention(ei[:, keep] - shift, a.weight[keep])
            local.append(out)
        att = local
    weights = None
    if readout is not None:
        weights = {t: _slice(w, ptr[t], index) for t, w in readout.items() if t in ptr}
    return single, att, weights
