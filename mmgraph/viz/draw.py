"""Draw one multimodal graph with its attention: regions over the image, tokens in a row, frames in time."""

from __future__ import annotations

from itertools import zip_longest
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from torch import Tensor
from torch_geometric.data import HeteroData

from mmgraph.graph.builder import FUSION
from mmgraph.viz.layout import modality_colors, modality_layout, node_kind
from mmgraph.viz.networkx import to_networkx
from mmgraph.viz.select import Attention, select_example

__all__ = ["draw", "as_image", "figure_and_axes"]

ImageLike = Union[Tensor, np.ndarray]


def figure_and_axes(ax: Optional[Axes], figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """``ax``'s figure and ``ax``, or a new figure (not registered with pyplot) with one axes."""
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise ValueError(f"ax: expected a matplotlib Axes, got {type(ax).__name__}")
    fig = ax.get_figure()
    assert isinstance(fig, Figure)
    return fig, ax


def as_image(image: ImageLike) -> np.ndarray:
    """An image as a ``(H, W, 3)`` (or ``(H, W)``) float array in ``[0, 1]``.

    Accepts ``(3, H, W)`` or ``(H, W, 3)`` tensors/arrays and ``(H, W)`` grey images, with
    values in ``[0, 1]`` or ``[0, 255]``.
    """
    arr = image.detach().cpu().numpy() if isinstance(image, Tensor) else np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ValueError(f"image: expected shape (3, H, W), (H, W, 3) or (H, W), got {tuple(np.shape(image))}")
    arr = arr.astype(np.float32)
    if arr.size and float(arr.max()) > 1.0:
        arr = arr / 255.0
    return np.clip(arr, 0.0, 1.0)


def _token_labels(graph: HeteroData, tokens: Sequence[str]) -> dict[str, list[str]]:
    """Give ``tokens`` to the one modality without positions that has as many nodes."""
    tokens = [str(t) for t in tokens]
    fits = [t for t in graph.node_types if t != FUSION and "pos" not in graph[t] and graph[t].num_nodes == len(tokens)]
    preferred = [t for t in ("text", "question", "tokens") if t in fits]
    if len(fits) == 1 or preferred:
        return {(preferred or fits)[0]: tokens}
    sizes = {t: graph[t].num_nodes for t in graph.node_types if t != FUSION}
    raise ValueError(
        f"tokens: {len(tokens)} tokens fit {'no' if not fits else 'more than one'} modality (node counts {sizes}); "
        "pass labels={modality: [...]} instead"
    )


def _edge_weight(data: Mapping[str, Any], layer: int) -> Optional[float]:
    per_layer = data.get("attention")
    if per_layer is None:
        return None
    try:
        heads = per_layer[layer]
    except IndexError:
        return None
    return None if heads is None else float(sum(heads) / len(heads))


def _check_edge_choice(top_k: Any, rank: Any) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k: expected a positive int or None, got {top_k!r}")
    if rank not in ("relative", "weight"):
        raise ValueError(f"rank: expected 'relative' or 'weight', got {rank!r}")


def draw(
    graph: HeteroData,
    attention: Optional[Attention] = None,
    image: Optional[ImageLike] = None,
    tokens: Optional[Sequence[str]] = None,
    ax: Optional[Axes] = None,
    *,
    labels: Optional[Mapping[str, Sequence[str]]] = None,
    example: Optional[int] = None,
    layer: int = -1,
    top_k: Optional[int] = 40,
    rank: str = "relative",
    title: Optional[str] = None,
) -> Figure:
    """Draw one graph with a modality-aware layout; edge width and opacity show attention.

    Image regions (nodes with 2-D ``pos``) sit at their positions — over ``image`` when it is
    given, with ``pos`` in ``[0, 1]`` image coordinates — text tokens lie in a row with their
    words, audio/video frames along a time axis, and the fusion node in the middle (see
    :func:`~mmgraph.viz.modality_layout`). Every modality has its own colour; an edge takes
    the colour of its source.

    With ``attention``, only the ``top_k`` edges of ``layer`` (weights averaged over heads) are
    drawn, their width and opacity proportional to the weight, which keeps graphs of 50+
    nodes readable. Edges are taken from every edge type in turn (each type's best first),
    so every relation shows its strongest edges. ``rank="relative"`` (default) picks the edges whose weight is largest
    relative to uniform attention (weight × the number of edges of that type into the
    target): an edge that is its target's only input always has weight 1 and says nothing,
    while one that wins a softmax over five neighbours says a lot. ``rank="weight"`` picks the
    largest weights. Without attention every edge is drawn thin.

    Args:
        graph: A single graph, or a batched graph together with ``example``.
        attention: Optional attention of every layer (one ``{edge_type: EdgeAttention}`` per
            layer), e.g. :class:`~mmgraph.nn.GraphFusionOutput` ``.attention``.
        image: Optional image under the spatial nodes: ``(3, H, W)`` or ``(H, W, 3)``.
        tokens: Words of the token modality (the one without positions whose length matches).
        ax: Axes to draw into; default a new figure.
        labels: ``{modality: [label per node]}`` (more general than ``tokens``).
        example: Which sample of a batched graph.
        layer: Which layer's attention sets the edges (negative counts from the end).
        top_k: How many edges to keep when attention is given (``None``: all).
        rank: ``"relative"`` or ``"weight"``: how the ``top_k`` edges are chosen.
        title: Axes title.

    Returns:
        The matplotlib figure.
    """
    g, att, _ = select_example(graph, attention, example)
    names = dict(labels or {})
    if tokens is not None:
        names.update(_token_labels(g, tokens))
    G = to_networkx(g, att, names)
    _check_edge_choice(top_k, rank)
    num_layers = G.graph["num_layers"]
    if att is not None and not -num_layers <= layer < num_layers:
        raise ValueError(f"layer: expected an index into {num_layers} layers, got {layer}")
    fig, ax = figure_and_axes(ax, (10, 5.5))
    img = None if image is None else as_image(image)
    coords = modality_layout(G, image=img is not None)
    colors = modality_colors([d["modality"] for _, d in G.nodes(data=True)])

    if img is not None:
        ax.imshow(img, extent=(0.0, 1.0, 0.0, 1.0), origin="upper", cmap="gray" if img.ndim == 2 else None, zorder=0)

    segments, rgba, widths, shown = _edge_segments(G, coords, colors, att is not None, layer, top_k, rank)
    ax.add_collection(LineCollection(segments, colors=rgba, linewidths=widths, zorder=1))
    handles, by_type = _draw_nodes(ax, G, coords, colors, names)
    handles.append(Line2D([], [], color="grey", label=shown))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.autoscale_view()
    ax.margins(0.08)
    if img is not None or any(node_kind(G, t) == "space" for t in by_type):
        ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def _edge_segments(G: Any, coords: Mapping[Any, Any], colors: Mapping[str, Any], attended: bool, layer: int,
                   top_k: Optional[int], rank: str) -> tuple[list, list, list, str]:
    """``(segments, colours, widths, legend text)`` of the edges to draw: by attention, or all thin."""
    num_layers = G.graph["num_layers"]
    edges = [(u, v, d) for u, v, d in G.edges(data=True) if u != v]
    if attended:
        weighted = [(u, v, d, _edge_weight(d, layer)) for u, v, d in edges]
        weighted = [e for e in weighted if e[3] is not None]
        degree: dict[tuple, int] = {}
        for _, v, d, _ in weighted:
            degree[(v, d["edge_type"])] = degree.get((v, d["edge_type"]), 0) + 1

        def score(e: tuple) -> float:
            u, v, d, w = e
            return w * degree[(v, d["edge_type"])] if rank == "relative" else w

        per_type: dict[tuple, list] = {}
        for e in sorted(weighted, key=lambda e: -score(e)):
            per_type.setdefault(e[2]["edge_type"], []).append(e)
        # round robin over edge types, so every relation shows its strongest edges
        ranked = [e for rnd in zip_longest(*per_type.values()) for e in rnd if e is not None]
        keep = ranked if top_k is None else ranked[:top_k]
        w_max = max((e[3] for e in keep), default=1.0) or 1.0  # type: ignore[type-var]
        segments = [(coords[u], coords[v]) for u, v, _, _ in keep]
        rgba = [to_rgba(colors[u[0]], 0.15 + 0.85 * w / w_max) for u, _, _, w in keep]  # type: ignore[operator]
        widths = [0.5 + 3.5 * w / w_max for *_, w in keep]  # type: ignore[operator]
        how = " relative to uniform" if rank == "relative" else ""
        shown = f"top {len(keep)} of {len(ranked)} edges by attention{how}, layer {layer % num_layers}"
    else:
        alpha = float(min(0.6, max(0.08, 6.0 / max(len(edges), 1) ** 0.5)))
        segments = [(coords[u], coords[v]) for u, v, _ in edges]
        rgba = [to_rgba(colors[u[0]], alpha) for u, _, _ in edges]
        widths = [0.8] * len(edges)
        shown = f"{len(edges)} edges"
    return segments, rgba, widths, shown


def _draw_nodes(ax: Axes, G: Any, coords: Mapping[Any, Any], colors: Mapping[str, Any],
                names: Mapping[str, Sequence[str]]) -> tuple[list, dict[str, list]]:
    """Scatter every modality's nodes (the fusion node as a star) with their labels; legend handles and nodes by type."""
    handles = []
    by_type: dict[str, list] = {}
    for n, d in G.nodes(data=True):
        by_type.setdefault(d["modality"], []).append((n, d))
    for t in sorted(by_type, key=lambda t: (t == FUSION, t)):
        nodes = by_type[t]
        xy = np.array([coords[n] for n, _ in nodes])
        marker, size = ("*", 320) if t == FUSION else ("o", 90 if len(G) < 60 else 40)
        ax.scatter(xy[:, 0], xy[:, 1], s=size, c=colors[t], marker=marker, edgecolors="white", linewidths=0.8, zorder=3)
        handles.append(Line2D([], [], marker=marker, color=colors[t], linestyle="", markersize=9,
                              label=f"{t} ({len(nodes)})"))
        kind = node_kind(G, t)
        if t in names or (kind == "sequence" and t != FUSION):
            many = len(nodes) > 8 and t in names
            for (n, d), (x, y) in zip(nodes, xy):
                text = d["label"] if t in names else str(d["index"])
                ax.annotate(text, (x, y), xytext=(0, -9), textcoords="offset points", ha="right" if many else "center",
                            va="top", fontsize=8, rotation=45 if many else 0, zorder=4,
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.75, "lw": 0})
    return handles, by_type
