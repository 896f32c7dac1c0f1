"""Graph building: edge strategies and the heterogeneous :class:`GraphBuilder`."""

from mmgraph.graph import edges
from mmgraph.graph.builder import CROSS, FUSE, FUSION, INTRA, EdgeType, GraphBuilder

__all__ = ["edges", "GraphBuilder", "EdgeType", "FUSION", "INTRA", "CROSS", "FUSE"]
