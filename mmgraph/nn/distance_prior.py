"""Start the softmax heads of relational layers on each node's closest and furthest neighbour.

Edges built with ``attr="pos"`` (:class:`~mmgraph.graph.edges.Full`, ``SpatialKNN``) carry
``[dx, dy, distance]``. A softmax head that scores an edge by :math:`-C \\cdot \\text{distance}`
selects the closest neighbour at the start of training, and :math:`+C \\cdot \\text{distance}`
the furthest, so a node's state holds those facts from the first step
(docs/probes.md, "Seed reliability of the graph caption decoder").
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from mmgraph.nn.conv.hetero_relational import HeteroRelationalConv
from mmgraph.nn.conv.typed import EdgeType

__all__ = ["distance_prior", "init_distance_prior"]


def distance_prior(heads: int, source_heads: int, edge_dim: int, c: float) -> Tensor:
    """Edge-score weights ``(heads, edge_dim)``: the first two target heads and the first two
    source heads start at ``-c * distance`` and ``+c * distance`` (distance: the last attribute).

    Args:
        heads: Softmax heads (``select_heads``), target heads first.
        source_heads: How many of them (the last ones) select over each source's edges.
        edge_dim: Width of the edge attributes.
        c: The prior's scale :math:`C`.
    """
    prior = torch.zeros(heads, edge_dim)
    for first, last in ((0, heads - source_heads), (heads - source_heads, heads)):
        for k, sign in zip(range(first, last), (-1.0, 1.0)):
            prior[k, -1] = sign * c
    return prior


def init_distance_prior(module: nn.Module, c: float, edge_type: Optional[EdgeType] = None) -> int:
    """Give every :class:`~mmgraph.nn.conv.hetero_relational.HeteroRelationalConv` in ``module``
    the :func:`distance_prior` of scale ``c`` (kept on every reset); returns how many it found.

    Args:
        module: A model or GNN holding relational layers with softmax heads.
        c: The prior's scale :math:`C` (a finite number).
        edge_type: The edge type whose last attribute is a distance (default: every edge type
            with attributes).
    """
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c):
        raise ValueError(f"distance_prior: expected a finite number, got {c!r}")
    convs = [m for m in module.modules() if isinstance(m, HeteroRelationalConv)]
    for conv in convs:
        targets = [edge_type] if edge_type is not None else [et for et, d in conv.edge_types.items() if d]
        for et in targets:
            if et not in conv.edge_types or not conv.edge_types[et]:
                raise ValueError(f"distance_prior: edge type {et} must carry attributes ending in a distance, "
                                 f"got edge types {dict(conv.edge_types)}")
            conv.init_edge_scores(distance_prior(conv.heads, conv.source_heads, conv.edge_types[et], c), et)
    return len(convs)
