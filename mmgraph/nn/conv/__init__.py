"""Message-passing layers."""

from mmgraph.nn.conv.gcn import GCNLayer
from mmgraph.nn.conv.relational import RelationalConv
from mmgraph.nn.conv.typed_relational import TypedRelationalConv

__all__ = ["GCNLayer", "RelationalConv", "TypedRelationalConv"]
