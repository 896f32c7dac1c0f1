"""Message-passing layers."""

from mmgraph.nn.conv.gcn import GCNLayer
from mmgraph.nn.conv.relational import RelationalConv

__all__ = ["GCNLayer", "RelationalConv"]
