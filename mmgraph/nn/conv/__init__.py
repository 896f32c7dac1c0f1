"""Message-passing layers."""

from mmgraph.nn.conv.gcn import GCNLayer

__all__ = ["GCNLayer"]
