"""Baseline fusion models (no graph): early concatenation, cross-attention, late fusion, tensor fusion.

Importing this package registers ``"concat"``, ``"attention"``, ``"late"`` and ``"tensor"``
with :func:`mmgraph.get_model`.
"""

from mmgraph.baselines.attention import AttentionFusion
from mmgraph.baselines.concat import ConcatFusion
from mmgraph.baselines.late import LateFusion
from mmgraph.baselines.relation_network import RelationNetwork
from mmgraph.baselines.tensor import TensorFusion

__all__ = ["ConcatFusion", "AttentionFusion", "LateFusion", "TensorFusion", "RelationNetwork"]
