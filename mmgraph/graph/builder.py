"""Turn multimodal samples into heterogeneous graphs (PyG ``HeteroData``)."""

from __future__ import annotations

from itertools import combinations
from typing import Iterable, Mapping, Optional, Union

import torch
from torch import Tensor
from torch_geometric.data import Batch, HeteroData

from mmgraph.data.batch import ModalityBatch, MultimodalBatch, collate
from mmgraph.data.sample import MultimodalSample, check_modality_name
from mmgraph.graph.edges.base import EdgeLimitExceeded, EdgeStrategy, sort_edges
from mmgraph.graph.edges.full import Full

__all__ = ["GraphBuilder", "EdgeType", "FUSION", "INTRA", "CROSS", "FUSE", "DEFAULT_MAX_EDGES"]

EdgeType = tuple[str, str, str]

#: Node type of the optional fusion node (one per sample, linked to every other node).
FUSION = "fusion"
#: Relation names: within a modality, across modalities (both directions), to/from the fusion node.
INTRA, CROSS, FUSE = "intra", "cross", "fuse"
#: Default of ``GraphBuilder(max_edges=...)``: the most edges one call may build.
DEFAULT_MAX_EDGES = 10_000_000


class GraphBuilder:
    r"""Build a heterogeneous graph from a multimodal sample: one node type per modality.

    Every element (token, region, frame) becomes a node of its modality's type, carrying
    ``x`` (the input features) and, when given, ``pos`` and ``time``. Edges come from
    edge strategies (:mod:`mmgraph.graph.edges`):

    - ``intra[m]`` links nodes of modality ``m`` (edge type ``(m, "intra", m)``);
    - ``cross[(a, b)]`` links ``a`` to ``b`` (type ``(a, "cross", b)``) and adds the reverse
      edges (type ``(b, "cross", a)``) so messages flow both ways;
    - ``fusion_node=True`` adds a node type ``"fusion"`` with one node per sample, linked to
      and from every node (types ``(m, "fuse", "fusion")`` and ``("fusion", "fuse", m)``).

    Strategies with attributes (:attr:`EdgeStrategy.edge_dim` > 0) store them as
    ``edge_attr`` of their edge type; reverse edges get the attributes of the reversed pair
    (e.g. the relative position with the opposite sign).

    Building takes time and memory proportional to the number of elements and edges for
    every strategy except :class:`~mmgraph.graph.edges.Full`, which links all pairs; a call
    that would build more than ``max_edges`` edges (all edge types together) stops with an
    error naming the edge type and the count before it allocates them.

    Args:
        intra: ``{modality: strategy}`` for edges within a modality.
        cross: ``{(modality_a, modality_b): strategy}`` for edges across modalities.
        fusion_node: Add the fusion node.
        max_edges: The most edges one call (one sample, or one batch) may build; raise it for
            larger graphs. Fusion-node edges (two per element) are not counted.

    Example:
        >>> import torch, mmgraph as mg
        >>> builder = mg.GraphBuilder(intra={"text": mg.edges.Sequential(1)},
        ...                           cross={("text", "image"): mg.edges.Full()}, fusion_node=True)
        >>> s = mg.MultimodalSample(text=torch.randn(3, 8), image=torch.randn(2, 8))
        >>> g = builder(s)
        >>> g["text", "intra", "text"].edge_index.tolist()
        [[0, 1, 1, 2], [1, 0, 2, 1]]
        >>> g["text", "cross", "image"].num_edges, g["image", "cross", "text"].num_edges
        (6, 6)

    :meth:`__call__` builds one graph; :meth:`batch` builds the batched graph of a
    :class:`~mmgraph.MultimodalBatch` in one vectorised pass (equal to
    ``Batch.from_data_list([builder(s) for s in samples])`` when the samples have the same
    modalities).
    """

    def __init__(
        self,
        intra: Optional[Mapping[str, EdgeStrategy]] = None,
        cross: Optional[Mapping[tuple[str, str], EdgeStrategy]] = None,
        fusion_node: bool = False,
        max_edges: int = DEFAULT_MAX_EDGES,
    ) -> None:
        if not isinstance(max_edges, int) or isinstance(max_edges, bool) or max_edges < 1:
            raise ValueError(f"max_edges: expected a positive int, got {max_edges!r}")
        self.max_edges = max_edges
        self.intra: dict[str, EdgeStrategy] = {}
        for name in intra or {}:
            check_modality_name(name)
        for name, strategy in sorted((intra or {}).items()):
            self._check_strategy(strategy, f"intra[{name!r}]")
            self.intra[name] = strategy
        self.cross: dict[tuple[str, str], EdgeStrategy] = {}
        for pair, strategy in (cross or {}).items():
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise ValueError(f"cross: keys must be (modality_a, modality_b) tuples, got {pair!r}")
            a, b = check_modality_name(pair[0]), check_modality_name(pair[1])
            if a == b:
                raise ValueError(f"cross[{pair!r}]: a cross-modal pair needs two different modalities; use intra[{a!r}]")
            if (b, a) in self.cross:
                raise ValueError(
                    f"cross: both {(b, a)!r} and {(a, b)!r} given; one pair already links both directions"
                )
            self._check_strategy(strategy, f"cross[{pair!r}]")
            if strategy.intra_only:
                raise ValueError(f"cross[{pair!r}]: {strategy!r} links elements of one modality; use it in intra")
            self.cross[(a, b)] = strategy
        self.fusion_node = bool(fusion_node)

    @staticmethod
    def _check_strategy(strategy: object, where: str) -> None:
        if not isinstance(strategy, EdgeStrategy):
            raise ValueError(
                f"{where}: expected an edge strategy such as mg.edges.Full(), got {type(strategy).__name__}"
            )

    @classmethod
    def complete(cls, modalities: Iterable[str], fusion_node: bool = True) -> "GraphBuilder":
        """A builder that links everything: :class:`~mmgraph.graph.edges.Full` within and across all modalities."""
        names = sorted(set(modalities))
        return cls(
            intra={m: Full() for m in names},
            cross={(a, b): Full() for a, b in combinations(names, 2)},
            fusion_node=fusion_node,
        )

    # ----------------------------------------------------------------------------------
    # Schema: which node and edge types a set of modalities gives
    # ----------------------------------------------------------------------------------
    def node_types(self, modalities: Iterable[str]) -> list[str]:
        """Node types of a graph over ``modalities`` (sorted, then ``"fusion"`` if enabled)."""
        return sorted(set(modalities)) + ([FUSION] if self.fusion_node else [])

    def edge_types(self, modalities: Iterable[str]) -> dict[EdgeType, int]:
        """``{edge_type: edge_dim}`` of a graph over ``modalities``, in a fixed order."""
        names = sorted(set(modalities))
        out: dict[EdgeType, int] = {}
        for m in names:
            if m in self.intra:
                out[(m, INTRA, m)] = self.intra[m].edge_dim
        for (a, b), strategy in self.cross.items():
            if a in names and b in names:
                out[(a, CROSS, b)] = strategy.edge_dim
                out[(b, CROSS, a)] = strategy.edge_dim
        if self.fusion_node:
            for m in names:
                out[(m, FUSE, FUSION)] = 0
                out[(FUSION, FUSE, m)] = 0
        return out

    # ----------------------------------------------------------------------------------
    # Building
    # ----------------------------------------------------------------------------------
    def __call__(self, sample: MultimodalSample) -> HeteroData:
        """Build the graph of one sample (node ``i`` of type ``m`` is element ``i`` of modality ``m``)."""
        if not isinstance(sample, MultimodalSample):
            raise ValueError(f"GraphBuilder: expected a MultimodalSample, got {type(sample).__name__}")
        return self._build(collate([sample]), batched=False)

    def batch(self, batch: Union[MultimodalBatch, list[MultimodalSample]]) -> HeteroData:
        """Build the batched graph of a whole batch at once (node stores get ``batch``/``ptr``).

        The result supports ``get_example(i)``/``to_data_list()`` like a PyG ``Batch``.
        """
        if isinstance(batch, (list, tuple)):
            batch = collate(batch)
        if not isinstance(batch, MultimodalBatch):
            raise ValueError(f"GraphBuilder.batch: expected a MultimodalBatch, got {type(batch).__name__}")
        return self._build(batch, batched=True)

    def _pairs(self, names: list[str]) -> list[tuple[str, str, EdgeStrategy, bool]]:
        """``(src, dst, strategy, same)`` for every configured, present pair."""
        out = [(m, m, self.intra[m], True) for m in names if m in self.intra]
        out += [(a, b, s, False) for (a, b), s in self.cross.items() if a in names and b in names]
        return out

    def _build(self, batch: MultimodalBatch, batched: bool) -> HeteroData:
        names = batch.modalities
        parts = _GraphParts(batch.batch_size, batch.device, batched)
        ranks: dict[str, Tensor] = {}
        for name in names:
            mb = batch[name]
            ranks[name] = mb.mask.cumsum(1) - 1  # node index within its sample of each real position
            attrs = {"x": mb.flat()}
            if mb.pos is not None:
                attrs["pos"] = mb.pos[mb.mask]
            if mb.time is not None:
                attrs["time"] = mb.time[mb.mask]
            parts.add_nodes(name, attrs, mb.lengths)
        if self.fusion_node:
            ones = torch.ones(batch.batch_size, dtype=torch.long, device=batch.device)
            parts.add_nodes(FUSION, {"x": batch[names[0]].x.new_zeros(batch.batch_size, 0)}, ones)
        self._strategy_edges(batch, names, parts, ranks)
        if self.fusion_node:
            for name in names:
                g = parts.assign[name]
                local = torch.arange(g.numel(), device=batch.device) - parts.offsets[name][g]
                zero = torch.zeros_like(g)
                parts.add_edges((name, FUSE, FUSION), g, local, zero, None)
                parts.add_edges((FUSION, FUSE, name), g, zero, local, None)
        return parts.finish()

    def _strategy_edges(self, batch: MultimodalBatch, names: list[str], parts: "_GraphParts",
                        ranks: dict[str, Tensor]) -> None:
        """The edges of every (source, target, strategy), within ``max_edges`` for all of them together."""
        budget = self.max_edges
        for src, dst, strategy, same in self._pairs(names):
            s_mb, d_mb = batch[src], batch[dst]
            strategy.check(src, s_mb, dst, d_mb)
            rel = INTRA if same else CROSS
            both = 1 if same else 2  # cross edges come in both directions
            try:
                g, i, j = strategy.edges(s_mb, d_mb, same, limit=budget // both)
            except EdgeLimitExceeded as exc:
                raise ValueError(
                    f"GraphBuilder: {strategy!r} on {(src, rel, dst)} would build {exc.count * both:,} edges"
                    f" ({self.max_edges - budget:,} already built), more than max_edges={self.max_edges:,};"
                    " use a sparser strategy or pass GraphBuilder(..., max_edges=N)"
                ) from None
            budget -= g.numel() * both
            parts.add_edges((src, rel, dst), g, ranks[src][g, i], ranks[dst][g, j],
                            strategy.edge_attr(s_mb, d_mb, g, i, j))
            if not same:
                g, j, i = sort_edges(g, j, i, d_mb.mask.size(1), s_mb.mask.size(1))
                parts.add_edges((dst, rel, src), g, ranks[dst][g, j], ranks[src][g, i],
                                strategy.edge_attr(d_mb, s_mb, g, j, i))

    def __repr__(self) -> str:
        parts = []
        if self.intra:
            parts.append("intra={" + ", ".join(f"{k!r}: {v!r}" for k, v in self.intra.items()) + "}")
        if self.cross:
            parts.append("cross={" + ", ".join(f"{k!r}: {v!r}" for k, v in self.cross.items()) + "}")
        if self.fusion_node:
            parts.append("fusion_node=True")
        return f"GraphBuilder({', '.join(parts)})"


class _GraphParts:
    """A graph being built: node and edge stores, and (batched) PyG's slice and increment tables."""

    def __init__(self, size: int, device: torch.device, batched: bool) -> None:
        self.size, self.device, self.batched = size, device, batched
        self.graph_ids = torch.arange(size, device=device)
        self.data: HeteroData = Batch(_base_cls=HeteroData) if batched else HeteroData()
        self.slices: dict[object, dict[str, Tensor]] = {}
        self.incs: dict[object, dict[str, Tensor]] = {}
        self.offsets: dict[str, Tensor] = {}
        self.assign: dict[str, Tensor] = {}

    def add_nodes(self, ntype: str, attrs: dict[str, Tensor], lengths: Tensor) -> None:
        store = self.data[ntype]
        for key, value in attrs.items():
            store[key] = value
        ptr = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])
        self.offsets[ntype] = ptr[:-1]
        self.assign[ntype] = torch.repeat_interleave(self.graph_ids, lengths)
        if self.batched:
            store.batch = self.assign[ntype]
            store.ptr = ptr
            self.slices[ntype] = {key: ptr for key in attrs}
            self.incs[ntype] = {key: torch.zeros(self.size, dtype=torch.long, device=self.device) for key in attrs}

    def add_edges(self, etype: EdgeType, g: Tensor, i: Tensor, j: Tensor, attr: Optional[Tensor]) -> None:
        src, _, dst = etype
        store = self.data[etype]
        store.edge_index = torch.stack([self.offsets[src][g] + i, self.offsets[dst][g] + j])
        if attr is not None:
            store.edge_attr = attr
        if self.batched:
            counts = torch.bincount(g, minlength=self.size)
            ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
            self.slices[etype] = {"edge_index": ptr}
            self.incs[etype] = {"edge_index": torch.stack([self.offsets[src], self.offsets[dst]], dim=1).unsqueeze(-1)}
            if attr is not None:
                self.slices[etype]["edge_attr"] = ptr
                self.incs[etype]["edge_attr"] = torch.zeros(self.size, dtype=torch.long, device=self.device)

    def finish(self) -> HeteroData:
        if self.batched:
            self.data._slice_dict = self.slices  # type: ignore[attr-defined]
            self.data._inc_dict = self.incs  # type: ignore[attr-defined]
            self.data._num_graphs = self.size  # type: ignore[attr-defined]
        return self.data
