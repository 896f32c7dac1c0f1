"""Graph fusion: modalities → heterogeneous graph → GNN → readout → task head."""

from __future__ import annotations

from itertools import accumulate
from typing import Any, Mapping, NamedTuple, Optional, Sequence, Union, Unpack

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.data.batch import MultimodalBatch
from mmgraph.graph.builder import FUSION, EdgeType, GraphBuilder
from mmgraph.graph.layout import HeteroLayout, flatten
from mmgraph.graph.prebuilt import GraphCollate
from mmgraph.nn.fusion_model import FusionModel, FusionOptions
from mmgraph.nn.heads import make_head
from mmgraph.nn.hetero_gnn import EdgeAttention, HeteroGNN
from mmgraph.nn.readout import Readout
from mmgraph.registry import register_model

__all__ = ["GraphFusionModel", "GraphFusionOutput", "FLAT_FROM"]

#: Values of ``GraphFusionModel(flat_from=...)``: the states the flat readout reads.
FLAT_FROM = ("output", "input")


class GraphFusionOutput(NamedTuple):
    """What :meth:`GraphFusionModel.forward` returns with ``return_attention=True``.

    Attributes:
        out: The predictions, ``(B, out_dim)``.
        graph: The batched ``HeteroData`` the model ran on (``graph.get_example(i)`` for one sample).
        attention: One ``{edge_type: EdgeAttention}`` per GNN layer.
        readout: ``{node_type: (N_t,)}`` attention-pooling weights (empty unless the readout
            uses ``"attention"``).
    """

    out: Tensor
    graph: HeteroData
    attention: list[dict[EdgeType, EdgeAttention]]
    readout: dict[str, Tensor]


class GraphFusionModel(FusionModel):
    r"""Fuse modalities with a heterogeneous GNN over the graph a :class:`~mmgraph.GraphBuilder` builds.

    1. every element is encoded by its modality's encoder (:class:`~mmgraph.nn.ModalityEncoders`),
       the fusion node (if any) starts from a learned vector;
    2. the builder turns the batch into one batched heterogeneous graph;
    3. :class:`~mmgraph.nn.HeteroGNN` passes messages along every edge type;
    4. :class:`~mmgraph.nn.Readout` pools each graph; a task head predicts.

    Args:
        in_dims, hidden, out_dim, task, dropout, extractors, film: as in :class:`~mmgraph.nn.FusionModel`;
            ``dropout`` also applies in the GNN and the head, and ``film`` conditions, the graph way,
            every GNN layer's inputs as well (``film`` of :class:`~mmgraph.nn.HeteroGNN`).
        builder: The graph builder; default :meth:`GraphBuilder.complete` over ``in_dims``
            (everything linked, with a fusion node).
        conv: ``"gcn"``, ``"gat"``, ``"gatv2"``, ``"relational"`` (see :data:`mmgraph.nn.CONVS`) or
            ``"typed-relational"`` (one convolution over all edge types per layer).
        num_layers: Message-passing layers.
        heads: Attention heads (GAT/GATv2; default 4); an error for a conv without heads.
        readout: Pooling(s), see :class:`~mmgraph.nn.Readout`; default ``("mean", "fusion")``
            with a fusion node, else ``"mean"``.
        norm: Normalisation in the GNN (``"layer"``, ``"batch"``, ``None``).
        norm_first: Pre-norm GNN layers (default), which keep the size of summed messages
            (counts); ``False``: post-norm (see :class:`~mmgraph.nn.HeteroGNN`).
        condition: A modality whose per-graph mean state conditions every message of a
            relational GNN (see :class:`~mmgraph.nn.HeteroGNN`), e.g. ``"question"`` for VQA.
        flat: ``{modality: nodes per graph}``: the head also reads these nodes' states in
            order, flattened (``flat`` of :class:`~mmgraph.nn.Readout`), e.g. ``{"image": 25}``
            for a 5×5 grid of regions.
        flat_from: Which states ``flat`` reads: ``"output"`` (after message passing, the default)
            or ``"input"`` (as they enter the GNN: a skip connection past it, while the pooled
            parts read the GNN's output). From pixels, a head that reads the regions after
            message passing stayed on the plateau where ``"input"`` left it (``docs/pixels.md``).
        pool: The modalities whose pooled states the head reads (``pool`` of
            :class:`~mmgraph.nn.Readout`; default: all), e.g. ``["question"]`` with the regions
            read by ``flat``.
        gate_init: Start the relational GNN's edge gates at :math:`\sigma(\text{gate\_init})`
            (see :class:`~mmgraph.nn.HeteroGNN`); ``None``: the default initialisation.
        select_heads: Softmax heads of ``conv="relational"`` (see :class:`~mmgraph.nn.HeteroGNN`).
        source_heads: How many of the ``select_heads`` (the last ones) select over each source's
            outgoing edges.

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` (modalities ⊆ ``in_dims``)
        - **output:** :math:`(B, \text{out\_dim})`
    """

    def __init__(self, in_dims: Mapping[str, int], hidden: int = 128, out_dim: int = 1, *,
                 builder: Optional[GraphBuilder] = None, conv: str = "gat", num_layers: int = 2, heads: Optional[int] = None,
                 readout: Union[str, Sequence[str], None] = None, norm: Optional[str] = "layer",
                 condition: Optional[str] = None, norm_first: bool = True, flat: Optional[Mapping[str, int]] = None,
                 flat_from: str = "output", pool: Optional[Sequence[str]] = None, gate_init: Optional[float] = None,
                 select_heads: int = 1, source_heads: int = 0, **options: Unpack[FusionOptions]) -> None:
        super().__init__(in_dims, hidden, out_dim, **options)
        names = self.names
        if flat_from not in FLAT_FROM:
            raise ValueError(f"flat_from: expected one of {list(FLAT_FROM)}, got {flat_from!r}")
        if flat_from != "output" and not flat:
            raise ValueError(f"flat_from={flat_from!r} needs flat= (the node types read flattened), got flat={flat!r}")
        self.flat_from = flat_from
        if condition is not None and condition not in names:
            raise ValueError(f"condition: expected a modality in {names}, got {condition!r}")
        if builder is None:
            builder = GraphBuilder.complete(names)
        if not isinstance(builder, GraphBuilder):
            raise ValueError(f"builder: expected a mmgraph.GraphBuilder, got {type(builder).__name__}")
        mentioned = set(builder.intra) | {m for pair in builder.cross for m in pair}
        unknown = sorted(mentioned - set(names))
        if unknown:
            raise ValueError(f"builder links modalities {unknown} that are not in in_dims {names}")
        self.builder = builder
        self._builder_key = repr(builder)
        self.conv = conv
        self.node_types = builder.node_types(names)
        self.edge_types = builder.edge_types(names)
        self.fusion = nn.Parameter(torch.zeros(hidden)) if builder.fusion_node else None
        self.gnn = HeteroGNN(
            self.node_types, self.edge_types, hidden, num_layers=num_layers, conv=conv, heads=heads,
            dropout=self.dropout_rate, norm=norm, condition=condition, norm_first=norm_first,
            film=options.get("film"), gate_init=gate_init, select_heads=select_heads, source_heads=source_heads,
        )
        if readout is None:
            readout = ("mean", "fusion") if builder.fusion_node else "mean"
        self.readout = Readout(self.node_types, hidden, readout, fusion_type=FUSION, flat=flat, pool=pool)
        self.head = make_head(self.task, self.readout.out_dim, out_dim, hidden=hidden, dropout=self.dropout_rate)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.reset_encoders()
        self.gnn.reset_parameters()
        self.readout.reset_parameters()
        self.head.reset_parameters()
        if self.fusion is not None:
            nn.init.normal_(self.fusion, std=0.02)

    def graph(self, batch: MultimodalBatch) -> HeteroData:
        """The batched heterogeneous graph the model runs on for ``batch`` (prebuilt or built now)."""
        return self._graph(batch)[1]

    def collate_fn(self) -> GraphCollate:
        """A DataLoader ``collate_fn`` that builds this model's graphs where the data is loaded.

        ``DataLoader(samples, batch_size=B, collate_fn=model.collate_fn(), num_workers=W)``:
        graphs are built in the workers and the model's forward does no graph construction.
        """
        return GraphCollate(self.builder, self.names, prepare=self.gnn)

    def _graph(self, batch: MultimodalBatch) -> tuple[MultimodalBatch, HeteroData, HeteroLayout, Any]:
        """``(batch, graph, layout, prepared)``: the batch's prebuilt graph when it carries one, else built now."""
        batch = self.prepare(batch)
        self.encoders.check(batch)
        pre = batch.graph
        if pre is None:
            graph = self.builder.batch(batch)
            return batch, graph, flatten(graph, self.node_types, self.edge_types), None
        if pre.key != self._builder_key:
            raise ValueError(
                f"batch.graph was built by {pre.key}, but this model builds its graphs with {self._builder_key}; "
                "collate with model.collate_fn() (or mg.graph.GraphCollate(model.builder))"
            )
        layout, prepared = pre.layout, pre.prepared
        if layout.node_types != tuple(self.node_types) or layout.edge_types != tuple(self.edge_types):
            layout, prepared = flatten(pre.data, self.node_types, self.edge_types), None  # built for a narrower schema
        usable = prepared is not None and prepared[0] == self.gnn.prepare_key
        return batch, pre.data, layout, prepared[1] if usable else None

    def forward(
        self, batch: MultimodalBatch, return_attention: bool = False, drop_edges: Sequence[EdgeType] = ()
    ) -> Union[Tensor, GraphFusionOutput]:
        """Predict; ``return_attention=True`` also returns the graph and every layer's attention
        (:class:`GraphFusionOutput`); ``drop_edges`` removes edge types (an ablation, e.g. for
        :func:`mmgraph.viz.edge_type_importance`)."""
        unknown = [et for et in drop_edges if et not in self.edge_types]
        if unknown:
            raise ValueError(f"drop_edges: {unknown} are not edge types of this model; expected some of {list(self.edge_types)}")
        batch, graph, layout, prepared = self._graph(batch)
        if drop_edges:
            layout, prepared = _without_edge_types(layout, set(drop_edges)), None
        context = None if self.film is None else self.film.context(batch)
        x = torch.cat([self._node_states(t, graph, layout, context) for t in self.node_types])
        flat = x if self.flat_from == "input" and self.readout.flat else None
        if return_attention:
            h, attention = self.gnn.forward_layout(x, layout, return_attention=True, prepared=prepared)
            pooled, weights = self.readout.forward_layout(h, layout, return_weights=True, flat_states=flat)
            return GraphFusionOutput(self.head(pooled), graph, attention, weights)
        h = self.gnn.forward_layout(x, layout, prepared=prepared)
        return self.head(self.readout.forward_layout(h, layout, flat_states=flat))

    def _node_states(self, node_type: str, graph: HeteroData, layout: HeteroLayout,
                     context: Optional[Tensor] = None) -> Tensor:
        """Initial states ``(N_t, hidden)`` of one node type's rows of ``layout`` (FiLM-modulated with ``film``)."""
        rows = layout.node_slice(node_type)
        if node_type == FUSION:
            assert self.fusion is not None
            return self.fusion.unsqueeze(0).expand(rows.stop - rows.start, -1)
        if rows.stop == rows.start:  # modality absent from the whole batch: no nodes
            return next(iter(self.encoders.parameters())).new_zeros(0, self.hidden)
        x = graph[node_type].x
        if context is None or self.film is None or node_type not in self.film.elements:
            return self.encoders.encode(node_type, x)
        gamma, beta = self.film.elements[node_type].coefficients(context)
        graph_of = layout.batch[rows]
        return self.encoders.encode(node_type, x, (gamma[graph_of], beta[graph_of]))

    def _repr_extra(self) -> dict[str, object]:
        extra: dict[str, object] = {"conv": self.conv, "layers": self.gnn.num_layers, "readout": list(self.readout.modes)}
        if self.gnn.condition is not None:
            extra["condition"] = self.gnn.condition
        if self.film is not None:
            extra["film"] = self.film.source
        if self.readout.flat:
            extra["flat"] = self.readout.flat
            if self.flat_from != "output":
                extra["flat_from"] = self.flat_from
        if self.readout.node_types != sorted(n for n in self.node_types if n != FUSION):
            extra["pool"] = self.readout.node_types
        return extra


def _without_edge_types(layout: HeteroLayout, dropped: set[EdgeType]) -> HeteroLayout:
    """``layout`` with the edges of ``dropped`` types removed (their types stay, with no edges)."""
    keep = torch.ones(layout.num_edges, dtype=torch.bool, device=layout.edge_index.device)
    counts = []
    for r, et in enumerate(layout.edge_types):
        a, b = layout.edge_ptr[r], layout.edge_ptr[r + 1]
        if et in dropped:
            keep[a:b] = False
        counts.append(0 if et in dropped else b - a)
    attr = None if layout.edge_attr is None else layout.edge_attr[keep]
    return layout._replace(edge_index=layout.edge_index[:, keep], edge_type=layout.edge_type[keep], edge_attr=attr,
                           edge_ptr=tuple(accumulate(counts, initial=0)))


def _graph_model(conv: str, name: str) -> Any:
    def build(in_dims: Mapping[str, int], hidden: int = 128, out_dim: int = 1, **kwargs: Any) -> GraphFusionModel:
        if "conv" in kwargs:
            raise ValueError(f"{name} fixes conv={conv!r}; use GraphFusionModel directly for another conv")
        return GraphFusionModel(in_dims, hidden, out_dim, conv=conv, **kwargs)

    build.__name__ = name.replace("-", "_")
    build.__doc__ = f"Graph fusion with ``conv={conv!r}``; options as :class:`GraphFusionModel`."
    return build


for _name, _conv in (("graph-gcn", "gcn"), ("graph-gat", "gat"), ("graph-gatv2", "gatv2"),
                     ("graph-relational", "relational")):
    register_model(_name)(_graph_model(_conv, _name))
