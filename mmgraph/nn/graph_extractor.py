"""An extractor followed by a GNN over each raw item's elements, run once per item (e.g. per image)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch_geometric.utils import to_dense_batch

from mmgraph.data.batch import ModalityBatch, MultimodalBatch
from mmgraph.data.raw import RawModality
from mmgraph.graph.builder import GraphBuilder
from mmgraph.graph.edges.base import EdgeStrategy
from mmgraph.nn.hetero_gnn import HeteroGNN

__all__ = ["GraphExtractor"]


class GraphExtractor(nn.Module):
    r"""Encode each raw item once with ``extractor``, pass messages between its elements, then share it.

    For a batch of questions about images, the image-level part of relational reasoning
    (for every region: which region is closest, which is furthest, how many look alike)
    does not depend on the question. This extractor computes it once per distinct image
    rather than once per question:

    1. ``extractor`` turns the :math:`K` distinct items into elements :math:`(K, L, F)`
       (e.g. :class:`~mmgraph.nn.GridCNN` regions with ``pos``);
    2. a linear map to ``hidden``, then a :class:`~mmgraph.nn.HeteroGNN` (pre-norm) over the
       graph ``strategy`` builds among each item's elements (e.g. ``Full(attr="pos")``);
    3. an optional linear map to ``out_dim``; the result is gathered for every sample
       (``raw.index``), so the model sees per-sample elements as from any extractor.

    Args:
        extractor: Module from :class:`~mmgraph.RawModality` to :class:`~mmgraph.ModalityBatch`,
            with an ``out_dim`` attribute (its feature width).
        strategy: Edge strategy linking the elements of one item.
        hidden: Width of the GNN.
        out_dim: Output width (default: ``hidden``).
        num_layers: GNN layers.
        conv: GNN convolution (see :class:`~mmgraph.nn.HeteroGNN`).
        select_heads: Softmax heads of ``conv="relational"`` (e.g. 2: closest and furthest).
        source_heads: How many of them (the last ones) select over each element's outgoing edges
            (see :class:`~mmgraph.nn.RelationalConv`).
        dropout: Dropout in the GNN.
        gate_init: Starting logit of the relational layers' edge gates (see
            :class:`~mmgraph.nn.HeteroGNN`); ``None``: their default initialisation.

    Shapes:
        - **input:** ``RawModality(data=(K, ...), index=(B,))``
        - **output:** ``ModalityBatch(x=(B, L, out_dim))`` with the extractor's ``pos``/``time``
    """

    def __init__(
        self,
        extractor: nn.Module,
        strategy: EdgeStrategy,
        hidden: int,
        out_dim: Optional[int] = None,
        num_layers: int = 1,
        conv: str = "relational",
        select_heads: int = 1,
        dropout: float = 0.0,
        source_heads: int = 0,
        gate_init: Optional[float] = None,
    ) -> None:
        super().__init__()
        in_dim = getattr(extractor, "out_dim", None)
        if not isinstance(in_dim, int) or in_dim < 1:
            raise ValueError(f"GraphExtractor: extractor needs a positive int out_dim attribute, got {in_dim!r}")
        for name, value in (("hidden", hidden), ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GraphExtractor: {name} must be a positive int, got {value!r}")
        if out_dim is not None and (not isinstance(out_dim, int) or isinstance(out_dim, bool) or out_dim < 1):
            raise ValueError(f"GraphExtractor: out_dim must be a positive int or None, got {out_dim!r}")
        self.extractor = extractor
        self.builder = GraphBuilder(intra={"elements": strategy})
        self.proj = nn.Linear(in_dim, hidden)
        self.gnn = HeteroGNN(
            ["elements"], self.builder.edge_types(["elements"]), hidden, num_layers=num_layers, conv=conv,
            dropout=dropout, norm_first=True, select_heads=select_heads, source_heads=source_heads,
            gate_init=gate_init,
        )
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, out_dim) if out_dim is not None else None
        self.hidden = hidden
        self.out_dim = out_dim if out_dim is not None else hidden

    def reset_parameters(self) -> None:
        if hasattr(self.extractor, "reset_parameters"):
            self.extractor.reset_parameters()
        for module in (self.proj, self.gnn, self.norm, self.out):
            if module is not None:
                module.reset_parameters()

    def propagate(self, once: ModalityBatch) -> Tensor:
        """Steps 2-3 on elements the extractor made: ``(K, L, F)`` → ``(K, L, out_dim)``, zero on padding."""
        items = once.x.size(0)
        elements = ModalityBatch(self.proj(once.x), mask=once.mask, pos=once.pos, time=once.time, name="elements", check=False)
        graph = self.builder.batch(MultimodalBatch({"elements": elements}))
        et = ("elements", "intra", "elements")
        attr = {et: graph[et].edge_attr} if "edge_attr" in graph[et] else {}
        h = self.gnn({"elements": graph["elements"].x}, {et: graph[et].edge_index}, attr)["elements"]
        h = self.norm(h)
        if self.out is not None:
            h = self.out(h)
        dense, _ = to_dense_batch(h, graph["elements"].batch, batch_size=items, max_num_nodes=once.x.size(1))
        return dense * once.mask.unsqueeze(-1).to(dense.dtype)

    @property
    def modulated_channels(self) -> int:
        """The inner extractor's modulable channels (an ``AttributeError`` when it has none)."""
        inner = self.extractor
        if not hasattr(inner, "modulated_channels"):
            raise AttributeError(f"{type(inner).__name__} takes no modulation")
        return int(inner.modulated_channels)

    def forward(self, raw: RawModality, modulation: Optional[tuple[Tensor, Tensor]] = None) -> ModalityBatch:
        """Elements of every sample's item. With ``modulation`` (FiLM of the inner extractor's last map,
        see :class:`~mmgraph.nn.ModalityFiLM`) each sample sees its item its own way, so the graph layers
        run once per sample instead of once per item."""
        if not isinstance(raw, RawModality):
            raise ValueError(f"GraphExtractor: expected a RawModality, got {type(raw).__name__}")
        if modulation is not None:
            per_sample = self.extractor(raw, modulation)
            return ModalityBatch(self.propagate(per_sample), mask=per_sample.mask, pos=per_sample.pos,
                                 time=per_sample.time, name="elements", check=False)
        items = raw.data.size(0)
        once = self.extractor(RawModality(raw.data, torch.arange(items, device=raw.data.device)))
        dense = self.propagate(once)
        index = raw.index
        return ModalityBatch(
            dense[index],
            mask=once.mask[index],
            pos=None if once.pos is None else once.pos[index],
            time=None if once.time is None else once.time[index],
            name="elements",
            check=False,
        )

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.extractor!r}, {self.builder.intra['elements']!r}, "
            f"hidden={self.hidden}, out_dim={self.out_dim}, layers={self.gnn.num_layers})"
        )
