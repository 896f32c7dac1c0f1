"""Graph building: edge strategies and the heterogeneous :class:`GraphBuilder`."""

from mmgraph.graph import edges
from mmgraph.graph.builder import CROSS, FUSE, FUSION, INTRA, EdgeType, GraphBuilder
from mmgraph.graph.layout import HeteroLayout, flatten
from mmgraph.graph.prebuilt import GraphBatches, GraphCollate, PrebuiltGraph, with_graphs

__all__ = [
    "edges", "GraphBuilder", "EdgeType", "FUSION", "INTRA", "CROSS", "FUSE", "HeteroLayout", "flatten",
    "PrebuiltGraph", "GraphCollate", "GraphBatches", "with_graphs",
]
