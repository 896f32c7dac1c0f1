"""Export a heterogeneous multimodal graph (and its attention) to networkx."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import networkx as nx
from torch_geometric.data import HeteroData

from mmgraph.viz.select import Attention, select_example

__all__ = ["to_networkx", "check_labels"]


def check_labels(graph: HeteroData, labels: Optional[Mapping[str, Sequence[str]]]) -> dict[str, list[str]]:
    """Validate ``{node_type: one label per node}`` against a single graph."""
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise ValueError(f"labels: expected a {{modality: [label, ...]}} mapping, got {type(labels).__name__}")
    out: dict[str, list[str]] = {}
    for t, labs in labels.items():
        if t not in graph.node_types:
            raise ValueError(f"labels: modality {t!r} is not a node type of the graph {graph.node_types}")
        labs = [str(s) for s in labs]
        n = graph[t].num_nodes
        if len(labs) != n:
            raise ValueError(f"labels[{t!r}]: expected {n} labels (one per node), got {len(labs)}")
        out[t] = labs
    return out


def to_networkx(
    graph: HeteroData,
    attention: Optional[Attention] = None,
    labels: Optional[Mapping[str, Sequence[str]]] = None,
    example: Optional[int] = None,
) -> nx.DiGraph:
    """A networkx ``DiGraph`` of one multimodal graph, with its attention on the edges.

    Nodes are ``(node_type, index)`` pairs (``("text", 3)`` is token 3) and carry

    - ``modality``: the node type (``"fusion"`` for the fusion node), ``index``;
    - ``pos`` / ``time``: tuples, when the modality has positions / time spans;
    - ``label``: the given label (e.g. the token's text), else ``"<modality> <index>"``.

    Edges ``(source, target)`` carry ``edge_type`` (the PyG triple), ``relation`` and, when
    ``attention`` is given, ``attention`` — one entry per layer, each the list of the heads'
    weights (``None`` in a layer that reported none for the edge) — and ``weight``, the mean
    over heads in the last layer that has one. Edges that appear only in the attention
    (GCN's self loops) are added with ``relation="self"``.

    Args:
        graph: A single graph, or a batched one together with ``example``.
        attention: Optional attention of every layer (``HeteroGNN(..., return_attention=True)``
            or :class:`~mmgraph.nn.GraphFusionOutput` ``.attention``) for the same graph.
        labels: Optional ``{modality: [label per node]}``, e.g. the question's words.
        example: Which sample of a batched graph.

    Example:
        >>> import torch, mmgraph as mg
        >>> builder = mg.GraphBuilder(intra={"text": mg.edges.Sequential(1)}, fusion_node=True)
        >>> g = builder(mg.MultimodalSample(text=torch.randn(3, 4)))
        >>> G = mg.viz.to_networkx(g, labels={"text": ["not", "very", "good"]})
        >>> G.nodes["text", 1]["label"], G.number_of_edges()
        ('very', 10)
    """
    g, att, _ = select_example(graph, attention, example)
    names = check_labels(g, labels)
    G = nx.DiGraph(num_layers=0 if att is None else len(att))
    for t in g.node_types:
        store = g[t]
        pos, time = store.get("pos"), store.get("time")
        for i in range(store.num_nodes):
            attrs: dict[str, object] = {"modality": t, "index": i}
            if pos is not None:
                attrs["pos"] = tuple(float(v) for v in pos[i])
            if time is not None:
                attrs["time"] = tuple(float(v) for v in time[i])
            attrs["label"] = names[t][i] if t in names else f"{t} {i}"
            G.add_node((t, i), **attrs)
    for et in g.edge_types:
        src, rel, dst = et
        for i, j in g[et].edge_index.t().tolist():
            G.add_edge((src, i), (dst, j), edge_type=et, relation=rel)
    if att is not None:
        layers = len(att)
        for layer, entry in enumerate(att):
            for et, a in entry.items():
                src, rel, dst = et
                w = a.weight.detach().float().reshape(a.weight.size(0), -1).cpu()
                for k, (i, j) in enumerate(a.edge_index.t().tolist()):
                    u, v = (src, i), (dst, j)
                    if not G.has_edge(u, v):
                        G.add_edge(u, v, edge_type=et, relation="self" if u == v else rel)
                    data = G.edges[u, v]
                    data.setdefault("attention", [None] * layers)[layer] = w[k].tolist()
        for _, _, data in G.edges(data=True):
            per_layer = [h for h in data.get("attention", []) if h is not None]
            if per_layer:
                data["weight"] = sum(per_layer[-1]) / len(per_layer[-1])
    return G
