"""A modality-aware layout: regions where they are, tokens in a row, frames on a time axis."""

from __future__ import annotations

from typing import Hashable, Sequence

import networkx as nx

from mmgraph.graph.builder import FUSION

__all__ = ["modality_layout", "modality_colors", "node_kind"]

Point = tuple[float, float]

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
FUSION_COLOR = "#222222"


def modality_colors(modalities: Sequence[str]) -> dict[str, str]:
    """One colour per modality (sorted, so the same modalities always get the same colours); fusion is black."""
    names = sorted(m for m in set(modalities) if m != FUSION)
    out = {m: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(names)}
    out[FUSION] = FUSION_COLOR
    return out


def node_kind(G: nx.DiGraph, modality: str) -> str:
    """``"fusion"``, ``"time"`` (nodes have time spans), ``"space"`` (2-D positions) or ``"sequence"``."""
    if modality == FUSION:
        return "fusion"
    nodes = [d for _, d in G.nodes(data=True) if d["modality"] == modality]
    if nodes and all("time" in d for d in nodes):
        return "time"
    if nodes and all("pos" in d and len(d["pos"]) >= 2 for d in nodes):
        return "space"
    return "sequence"


def _unit(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    return [0.5 if hi == lo else (v - lo) / (hi - lo) for v in values]


def modality_layout(G: nx.DiGraph, image: bool = False) -> dict[Hashable, Point]:
    """Positions for every node of a graph from :func:`~mmgraph.viz.to_networkx`.

    - Modalities with 2-D ``pos`` (image regions, objects) are placed at their positions in
      the unit square, read as image coordinates (``x`` to the right, ``y`` down; with
      ``image=True`` positions are taken as they are, in ``[0, 1]``, else rescaled to fill it).
    - Modalities with ``time`` spans (audio, video, timed tokens) lie in rows along one shared
      time axis (the centre of each span); elements with equal times are stacked.
    - Other modalities (text tokens) lie in rows, in order.
    - The fusion node sits in the middle: between the spatial square and the rows, or
      between the rows.
    """
    by_type: dict[str, list[tuple[Hashable, dict]]] = {}
    for n, d in G.nodes(data=True):
        by_type.setdefault(d["modality"], []).append((n, d))
    for nodes in by_type.values():
        nodes.sort(key=lambda nd: nd[1]["index"])
    kinds = {t: node_kind(G, t) for t in by_type}
    spatial = sorted(t for t, k in kinds.items() if k == "space")
    rows = sorted((t for t, k in kinds.items() if k in ("time", "sequence")), key=lambda t: (kinds[t] != "sequence", t))
    out: dict[Hashable, Point] = {}

    for t in spatial:
        xs = [d["pos"][0] for _, d in by_type[t]]
        ys = [d["pos"][1] for _, d in by_type[t]]
        if not image:
            xs, ys = _unit(xs), _unit(ys)
            xs, ys = [0.05 + 0.9 * x for x in xs], [0.05 + 0.9 * y for y in ys]
        for (n, _), x, y in zip(by_type[t], xs, ys):
            out[n] = (x, 1.0 - y)

    times = [0.5 * (d["time"][0] + d["time"][1]) for t in rows if kinds[t] == "time" for _, d in by_type[t]]
    t_lo, t_hi = (min(times), max(times)) if times else (0.0, 1.0)

    def row_x(t: str) -> list[float]:
        nodes = by_type[t]
        if kinds[t] == "time":
            mids = [0.5 * (d["time"][0] + d["time"][1]) for _, d in nodes]
            return [0.5 if t_hi == t_lo else (m - t_lo) / (t_hi - t_lo) for m in mids]
        n = len(nodes)
        return [0.5 if n == 1 else i / (n - 1) for i in range(n)]

    def place_row(t: str, x0: float, width: float, y: float, band: float) -> None:
        xs = row_x(t)
        groups: dict[float, list[int]] = {}
        for i, x in enumerate(xs):
            groups.setdefault(round(x, 9), []).append(i)
        for members in groups.values():
            step = min(band / max(len(members), 1), 0.05)
            for rank, i in enumerate(members):
                out[by_type[t][i][0]] = (x0 + width * xs[i], y + (rank - (len(members) - 1) / 2) * step)

    fusion = by_type.get(FUSION, [])
    if spatial:  # rows right of the square, alternately above and below the fusion node's height
        order = [0.92, 0.08, 0.76, 0.24, 0.62, 0.38]
        ys = [order[k] if k < len(order) else 0.92 - 0.84 * k / len(rows) for k in range(len(rows))]
        band = 0.12
        for t, y in zip(rows, ys):
            place_row(t, 1.55, 1.2, y, band)
        for n, _ in fusion:
            out[n] = (1.25, 0.5)
    else:
        slots: list[str] = list(rows)
        if fusion:
            slots.insert(len(rows) // 2 if len(rows) > 1 else 0, FUSION)
        gap = 0.45
        top = gap * (len(slots) - 1)
        for k, t in enumerate(slots):
            y = top - gap * k
            if t == FUSION:
                for n, _ in fusion:
                    out[n] = (0.5, y)
            else:
                place_row(t, 0.0, 1.0, y, gap * 0.6)
    return out
