"""Message-passing layers: per-graph layers, and heterogeneous layers that run over every edge type at once."""

from mmgraph.nn.conv.gcn import GCNLayer
from mmgraph.nn.conv.hetero_gat import HeteroGATConv, HeteroGATv2Conv
from mmgraph.nn.conv.hetero_gcn import HeteroGCNConv
from mmgraph.nn.conv.hetero_relational import HeteroGatedRelationalConv, HeteroRelationalConv
from mmgraph.nn.conv.relational import RelationalConv
from mmgraph.nn.conv.per_type import PerTypeConv
from mmgraph.nn.conv.typed import EdgeAttention, EdgeSlots, TypedConv
from mmgraph.nn.conv.typed_relational import TypedRelationalConv, TypedRelationalLayer

__all__ = [
    "GCNLayer", "RelationalConv", "TypedRelationalConv", "TypedConv", "EdgeSlots", "EdgeAttention", "PerTypeConv",
    "HeteroGCNConv", "HeteroGATConv", "HeteroGATv2Conv", "HeteroRelationalConv", "HeteroGatedRelationalConv",
    "TypedRelationalLayer",
]
