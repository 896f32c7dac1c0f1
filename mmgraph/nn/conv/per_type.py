"""Convolutions registered as per-edge-type factories, run one edge type after another."""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping, Optional, Sequence

import torch
from torch import Tensor, nn

from mmgraph.graph.layout import HeteroLayout
from mmgraph.nn.conv.typed import EdgeAttention, EdgeType, edge_key

__all__ = ["PerTypeConv", "PerTypeFactory"]


#: A per-edge-type convolution factory: ``factory(hidden, edge_dim, same, heads, dropout)`` returns a
#: module called as ``(x_src, x_dst, edge_index, edge_attr, need_weights)`` → ``(out, EdgeAttention | None)``.
PerTypeFactory = Callable[[int, int, bool, int, float], nn.Module]


class PerTypeConv(nn.ModuleDict):
    """One module per edge type (a user's per-edge-type factory), run one after another.

    The slow but general path for convolutions registered with
    :func:`~mmgraph.nn.register_conv` as a per-edge-type factory: each type's module sees its
    own edges, and the messages are summed per target node. :meth:`of` makes the class of a
    factory.
    """

    accepts_context: ClassVar[bool] = False
    options: ClassVar[tuple[str, ...]] = ("heads", "dropout")
    factory: ClassVar[PerTypeFactory]

    def __init__(self, hidden: int, node_types: Sequence[str], edge_types: Mapping[EdgeType, int],
                 heads: int = 1, dropout: float = 0.0) -> None:
        factory = type(self).factory
        super().__init__({edge_key(et): factory(hidden, dim, et[0] == et[2], heads, dropout)
                          for et, dim in edge_types.items()})
        self.node_types, self.edge_types, self.hidden = list(node_types), dict(edge_types), hidden

    @classmethod
    def of(cls, factory: PerTypeFactory, name: str) -> type["PerTypeConv"]:
        """The :class:`PerTypeConv` subclass that builds its per-type modules with ``factory``."""
        return type(f"PerTypeConv[{name}]", (cls,), {"factory": staticmethod(factory)})

    def slots(self, layout: HeteroLayout) -> None:
        return None

    def forward(self, x: Tensor, layout: HeteroLayout, slots: Any = None, context: Optional[Tensor] = None,
                need_weights: bool = False) -> tuple[Tensor, Optional[dict[EdgeType, EdgeAttention]]]:
        out = torch.zeros_like(x)
        found: dict[EdgeType, EdgeAttention] = {}
        for r, et in enumerate(layout.edge_types):
            s, d = layout.node_slice(et[0]), layout.node_slice(et[2])
            a, b = layout.edge_ptr[r], layout.edge_ptr[r + 1]
            ei = layout.edge_index[:, a:b] - torch.tensor([[s.start], [d.start]], device=x.device)
            dim = layout.edge_dims[r]
            attr = layout.edge_attr[a:b, :dim] if dim and layout.edge_attr is not None else None
            msg, att = self[edge_key(et)](x[s], x[d], ei, attr, need_weights)
            out = out.index_add(0, torch.arange(d.start, d.stop, device=x.device), msg)
            if att is not None:
                found[et] = att
        return out, (found if need_weights else None)
