"""Attention maps: cross-modal attention per layer, attention rollout, and the readout's attention."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor
from torch_geometric.data import HeteroData

from mmgraph.graph.builder import FUSION
from mmgraph.nn.models.graph_fusion import GraphFusionOutput
from mmgraph.viz.draw import figure_and_axes
from mmgraph.viz.layout import modality_colors
from mmgraph.viz.networkx import check_labels
from mmgraph.viz.select import Attention, select_example

__all__ = ["attention_matrix", "attention_rollout", "attention_heatmap", "readout_weights", "plot_readout"]

EdgeType = tuple[str, str, str]


def _check_type(graph: HeteroData, t: str, what: str) -> None:
    if t not in graph.node_types:
        raise ValueError(f"{what}: expected a node type in {graph.node_types}, got {t!r}")


def _layer_index(layer: int, num_layers: int) -> int:
    if isinstance(layer, bool) or not isinstance(layer, int) or not -num_layers <= layer < num_layers:
        raise ValueError(f"layer: expected an index into {num_layers} layers, got {layer!r}")
    return layer % num_layers


def attention_matrix(
    graph: HeteroData,
    attention: Attention,
    src: str,
    dst: str,
    layer: int = -1,
    example: Optional[int] = None,
    relation: Optional[str] = None,
    head: Optional[int] = None,
) -> Tensor:
    r"""The attention that ``dst`` nodes pay to ``src`` nodes in one layer, averaged over heads.

    Entry ``[i, j]`` is the weight of the edge from ``src`` node ``j`` to ``dst`` node ``i``
    (0 where there is no edge), summed over the edge types from ``src`` to ``dst`` (or only
    the one named ``relation``). ``head=k`` takes column ``k`` of the weights instead of the
    mean over heads (for ``conv="relational"``, column 0 is the sigmoid gate and columns
    ``1..K`` the softmax selection weights).

    Returns:
        ``(N_dst, N_src)`` tensor.
    """
    g, att, _ = select_example(graph, attention, example)
    assert att is not None
    _check_type(g, src, "src")
    _check_type(g, dst, "dst")
    entry = att[_layer_index(layer, len(att))]
    types = [et for et in entry if et[0] == src and et[2] == dst and (relation is None or et[1] == relation)]
    if not types:
        have = sorted({et for layer_att in att for et in layer_att})
        raise ValueError(
            f"no attention from {src!r} to {dst!r}{'' if relation is None else f' with relation {relation!r}'} "
            f"in layer {layer}; edge types with attention: {have}. Use attention_rollout to follow paths "
            "through other nodes (e.g. the fusion node)"
        )
    out = torch.zeros(g[dst].num_nodes, g[src].num_nodes)
    for et in types:
        a = entry[et]
        w = a.weight.detach().float().reshape(a.weight.size(0), -1).cpu()
        if head is not None and not -w.size(1) <= head < w.size(1):
            raise ValueError(f"head: expected an index into {w.size(1)} weight columns, got {head}")
        w = w.mean(-1) if head is None else w[:, head]
        ei = a.edge_index.cpu()
        out.index_put_((ei[1], ei[0]), w, accumulate=True)
    return out


def attention_rollout(
    graph: HeteroData,
    attention: Attention,
    example: Optional[int] = None,
    residual: float = 0.5,
) -> tuple[Tensor, list[tuple[str, int]]]:
    r"""How much each node's input flows into each node's output through all layers.

    Attention rollout (Abnar & Zuidema, 2020) on a graph: layer :math:`\ell`'s attention, summed
    over edge types and averaged over heads, becomes an :math:`N \times N` matrix
    :math:`A_\ell` with rows normalised to 1; the residual connection mixes in the identity,
    :math:`\hat{A}_\ell = r I + (1 - r) A_\ell` (nodes that receive nothing keep their state),
    and :math:`R = \hat{A}_L \cdots \hat{A}_1`. ``R[i, j]`` is the share of node ``j``'s input in
    node ``i``'s output; each row sums to 1. Paths through the fusion node count, so this
    shows e.g. which image regions the question tokens reached.

    Returns:
        ``(R, nodes)``: the ``(N, N)`` matrix and the ``(node_type, index)`` of each row/column.
    """
    if not 0.0 <= residual < 1.0:
        raise ValueError(f"residual: expected a value in [0, 1), got {residual!r}")
    g, att, _ = select_example(graph, attention, example)
    assert att is not None
    nodes = [(t, i) for t in g.node_types for i in range(g[t].num_nodes)]
    offset: dict[str, int] = {}
    total = 0
    for t in g.node_types:
        offset[t] = total
        total += g[t].num_nodes
    rollout = torch.eye(total)
    for entry in att:
        a_mat = torch.zeros(total, total)
        for (src, _, dst), a in entry.items():
            w = a.weight.detach().float().reshape(a.weight.size(0), -1).mean(-1).cpu().clamp_min(0)
            ei = a.edge_index.cpu()
            a_mat.index_put_((ei[1] + offset[dst], ei[0] + offset[src]), w, accumulate=True)
        rows = a_mat.sum(-1, keepdim=True)
        has = rows.squeeze(-1) > 0
        a_mat = torch.where(has.unsqueeze(-1), a_mat / rows.clamp_min(1e-12), torch.eye(total))
        step = residual * torch.eye(total) + (1 - residual) * a_mat
        rollout = step @ rollout
    return rollout, nodes


def attention_heatmap(
    graph: HeteroData,
    attention: Attention,
    src: str,
    dst: str,
    example: Optional[int] = None,
    layers: Optional[Sequence[int]] = None,
    labels: Optional[Mapping[str, Sequence[str]]] = None,
    rollout: bool = False,
    ax: Optional[Axes] = None,
    head: Optional[int] = None,
) -> Figure:
    """Heat map(s) of the attention ``dst`` nodes pay to ``src`` nodes, one panel per layer.

    With ``rollout=True``, one panel of :func:`attention_rollout` restricted to ``dst`` rows and
    ``src`` columns: the flow through all layers and through other nodes (use this when the
    two modalities are linked only through the fusion node).

    Args:
        graph, attention, example: As for :func:`attention_matrix`.
        src, dst: Node types (columns, rows).
        layers: Which layers (default every layer with ``src`` → ``dst`` attention).
        labels: ``{modality: [label per node]}`` for the tick labels (e.g. the question's words).
        rollout: Show the attention rollout instead of per-layer attention.
        ax: Axes for a single panel (rollout, or one layer).
        head: One weight column instead of the mean over heads (see :func:`attention_matrix`).

    Returns:
        The matplotlib figure.
    """
    g, att, _ = select_example(graph, attention, example)
    assert att is not None
    names = check_labels(g, labels)
    _check_type(g, src, "src")
    _check_type(g, dst, "dst")
    panels: list[tuple[str, Tensor]] = []
    if rollout:
        mat, nodes = attention_rollout(g, att)
        rows = [k for k, (t, _) in enumerate(nodes) if t == dst]
        cols = [k for k, (t, _) in enumerate(nodes) if t == src]
        panels.append(("attention rollout (all layers)", mat[rows][:, cols]))
    else:
        if layers is None:
            layers = [k for k, entry in enumerate(att) if any(et[0] == src and et[2] == dst for et in entry)]
            if not layers:
                attention_matrix(g, att, src, dst)  # raises the explanatory error
        for layer in layers:
            name = f"layer {_layer_index(layer, len(att))}" + ("" if head is None else f", head {head}")
            panels.append((name, attention_matrix(g, att, src, dst, layer, head=head)))
    if ax is not None and len(panels) != 1:
        raise ValueError(f"ax: one axes can hold one panel, but {len(panels)} layers were asked for; pass layers=[k]")
    if ax is None:
        n_dst, n_src = g[dst].num_nodes, g[src].num_nodes
        w = min(4.5, 1.2 + 0.28 * n_src)
        h = min(4.5, 1.0 + 0.28 * n_dst)
        fig = Figure(figsize=(w * len(panels) + 1.0, h + 0.8), layout="constrained")
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
    else:
        fig, ax0 = figure_and_axes(ax, (5, 4))
        axes = np.array([ax0])
    image = None
    for axis, (name, mat) in zip(axes, panels):
        image = axis.imshow(mat.numpy(), cmap="viridis", aspect="auto", vmin=0.0)
        axis.set_title(name, fontsize=10)
        axis.set_xlabel(src)
        axis.set_ylabel(dst)
        for which, t, n in (("x", src, mat.size(1)), ("y", dst, mat.size(0))):
            ticks = list(range(n))
            tick_labels = names.get(t, [str(i) for i in ticks])
            if n > 30:  # keep ticks readable
                ticks = ticks[:: int(np.ceil(n / 30))]
                tick_labels = [tick_labels[i] for i in ticks]
            if which == "x":
                axis.set_xticks(ticks, tick_labels, rotation=90 if t in names else 0, fontsize=7)
            else:
                axis.set_yticks(ticks, tick_labels, fontsize=7)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="attention")
    return fig


def readout_weights(output: GraphFusionOutput, example: int = 0) -> dict[str, Tensor]:
    """Which nodes the prediction of one sample used: ``{node_type: (N_t,)}``, summing to 1 over all nodes.

    With an ``"attention"`` readout, its pooling weights (each node type's weights sum to 1,
    so they are divided by the number of types). Otherwise, with a fusion node, the row of
    the fusion node in :func:`attention_rollout` (its own share left out): how much of each
    node's input reached the fusion state the head reads.
    """
    if not isinstance(output, GraphFusionOutput):
        raise ValueError(
            "output: expected the GraphFusionOutput of model(batch, return_attention=True), "
            f"got {type(output).__name__}"
        )
    g, att, weights = select_example(output.graph, output.attention, example, output.readout)
    if weights:
        k = len(weights)
        return {t: w.detach().float().cpu() / k for t, w in weights.items()}
    if FUSION not in g.node_types or not att:
        raise ValueError("readout_weights needs an 'attention' readout, or a fusion node and attention weights")
    mat, nodes = attention_rollout(g, att)
    fusion = nodes.index((FUSION, 0))
    row = mat[fusion].clone()
    row[fusion] = 0.0
    row = row / row.sum().clamp_min(1e-12)
    out: dict[str, list[float]] = {}
    for (t, _), v in zip(nodes, row.tolist()):
        if t != FUSION:
            out.setdefault(t, []).append(v)
    return {t: torch.tensor(v) for t, v in out.items()}


def plot_readout(
    weights: Mapping[str, Tensor],
    labels: Optional[Mapping[str, Sequence[str]]] = None,
    ax: Optional[Axes] = None,
    title: str = "what the prediction used",
) -> Figure:
    """Bar chart of per-node readout weights (from :func:`readout_weights`), coloured by modality."""
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError(f"weights: expected a non-empty {{node_type: weights}} mapping, got {weights!r}")
    colors = modality_colors(list(weights))
    xs, heights, cols, ticks, owners = [], [], [], [], []
    pos = 0
    for t in sorted(weights):
        w = torch.as_tensor(weights[t]).detach().float().reshape(-1).cpu()
        names = list(labels[t]) if labels and t in labels else [f"{t} {i}" for i in range(w.numel())]
        if len(names) != w.numel():
            raise ValueError(f"labels[{t!r}]: expected {w.numel()} labels, got {len(names)}")
        for i, v in enumerate(w.tolist()):
            xs.append(pos)
            heights.append(v)
            cols.append(colors[t])
            ticks.append(names[i])
            owners.append(t)
            pos += 1
        pos += 1  # gap between modalities
    fig, ax = figure_and_axes(ax, (min(14.0, 2.0 + 0.25 * len(xs)), 3.2))
    ax.bar(xs, heights, color=cols, width=1.0 if len(xs) > 40 else 0.8)
    if len(xs) > 40:  # too many nodes to name: one tick per modality
        centres: dict[str, list[int]] = {}
        for x, t in zip(xs, owners):
            centres.setdefault(t, []).append(x)
        ax.set_xticks([sum(v) / len(v) for v in centres.values()], list(centres), fontsize=9)
    else:
        ax.set_xticks(xs, ticks, rotation=90, fontsize=7)
    ax.set_ylabel("weight")
    ax.set_title(title)
    return fig
