"""Complete graph fusion models (registered as ``graph-gcn``, ``graph-gat``, ``graph-gatv2``)."""

from mmgraph.nn.models.graph_fusion import GraphFusionModel, GraphFusionOutput

__all__ = ["GraphFusionModel", "GraphFusionOutput"]
