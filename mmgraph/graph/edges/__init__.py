"""Edge strategies: which elements of which modalities are linked (``mg.edges.*``)."""

from mmgraph.graph.edges.base import EdgeStrategy
from mmgraph.graph.edges.feature_knn import FeatureKNN
from mmgraph.graph.edges.full import Full
from mmgraph.graph.edges.sequential import Sequential
from mmgraph.graph.edges.spatial_knn import SpatialKNN
from mmgraph.graph.edges.temporal_overlap import TemporalOverlap

__all__ = ["EdgeStrategy", "Sequential", "SpatialKNN", "Full", "FeatureKNN", "TemporalOverlap"]
