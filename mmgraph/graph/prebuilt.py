"""Graphs built where the data is loaded: in a DataLoader's collate function, before the model runs."""

from __future__ import annotations

import queue
import threading
from typing import Any, Iterable, Iterator, NamedTuple, Optional, Sequence, Union

import torch
from torch_geometric.data import HeteroData

from mmgraph.data.batch import MultimodalBatch, collate
from mmgraph.data.sample import MultimodalSample
from mmgraph.graph.builder import GraphBuilder
from mmgraph.graph.layout import HeteroLayout, flatten

__all__ = ["PrebuiltGraph", "GraphCollate", "GraphBatches", "with_graphs"]


class PrebuiltGraph(NamedTuple):
    """A batch's graph, built ahead of the model (carried by :attr:`MultimodalBatch.graph`).

    Attributes:
        data: The batched ``HeteroData`` (what :meth:`GraphBuilder.batch` returns).
        layout: The same graph laid out for the GNN (:class:`~mmgraph.graph.HeteroLayout`).
        key: The builder that made it (``repr(builder)``); a graph model uses the graph only
            if it was made by an equal builder.
        prepared: ``(key, value)``: what a GNN computes from the graph alone before its layers
            run (e.g. :meth:`mmgraph.nn.HeteroGNN.prepare`), computed in the loader too, and
            for which GNN (its ``prepare_key``); ``None`` if not.
    """

    data: HeteroData
    layout: HeteroLayout
    key: str
    prepared: Optional[tuple[str, Any]] = None

    def to(self, *args: Any, **kwargs: Any) -> "PrebuiltGraph":
        """Move (and cast floating tensors) like :meth:`torch.Tensor.to`; indices keep their dtype."""
        device = next((a for a in args if isinstance(a, (str, torch.device))), kwargs.get("device"))
        dtype = next((a for a in args if isinstance(a, torch.dtype)), kwargs.get("dtype"))
        data = self.data if device is None else self.data.to(device)
        if dtype is not None:
            data = data.apply(lambda t: t.to(dtype) if t.is_floating_point() else t)
        prepared = None if self.prepared is None else (self.prepared[0], _move(self.prepared[1], device))
        return PrebuiltGraph(data, self.layout.to(*args, **kwargs), self.key, prepared)


def _move(value: Any, device: Any) -> Any:
    """``value`` with every tensor inside (named) tuples and lists moved to ``device``."""
    if device is None:
        return value
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_move(v, device) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(_move(v, device) for v in value)
    return value


class GraphCollate:
    r"""A ``collate_fn`` that pads samples into a batch *and* builds the batch's graph.

    With ``DataLoader(dataset, batch_size=B, collate_fn=GraphCollate(builder), num_workers=W)``
    graphs are built in the loader's worker processes, overlapping the model's steps, and a
    graph model called on the batch does no graph construction (its forward and backward
    then need no value from the device). :meth:`attach` adds the graph to a batch made
    another way.

    Args:
        builder: The graph builder (the model's: ``model.builder``).
        modalities: The modalities of the graph's schema (default: those of each batch). Pass
            the model's (``model.in_dims``) when some batches may lack a modality, so that the
            layout always matches the model's node and edge types.
        prepare: Optional GNN (anything with ``prepare(layout)`` and ``prepare_key``) whose
            graph-only preparation also runs here (:attr:`PrebuiltGraph.prepared`);
            ``model.collate_fn()`` passes the model's.

    Example:
        >>> import torch, mmgraph as mg
        >>> builder = mg.GraphBuilder(intra={"text": mg.edges.Sequential(1)}, fusion_node=True)
        >>> batch = mg.GraphCollate(builder)([mg.MultimodalSample(text=torch.randn(3, 4))])
        >>> batch.graph.layout.num_edges
        10
    """

    def __init__(self, builder: GraphBuilder, modalities: Optional[Iterable[str]] = None,
                 prepare: Optional[Any] = None) -> None:
        if not isinstance(builder, GraphBuilder):
            raise ValueError(f"builder: expected a mmgraph.GraphBuilder, got {type(builder).__name__}")
        if prepare is not None and not (callable(getattr(prepare, "prepare", None)) and hasattr(prepare, "prepare_key")):
            raise ValueError(f"prepare: expected a GNN with prepare(layout) and prepare_key, got {type(prepare).__name__}")
        self.builder = builder
        self.modalities = None if modalities is None else sorted(set(modalities))
        self.prepare = prepare

    def __call__(self, samples: Sequence[MultimodalSample]) -> MultimodalBatch:
        return self.attach(collate(samples))

    def attach(self, batch: MultimodalBatch) -> MultimodalBatch:
        """``batch`` with its graph built (batches with raw inputs pass unchanged: their elements come later)."""
        if not isinstance(batch, MultimodalBatch):
            raise ValueError(f"GraphCollate.attach: expected a MultimodalBatch, got {type(batch).__name__}")
        if batch.raw:
            return batch
        names = self.modalities or batch.modalities
        extra = sorted(set(batch.modalities) - set(names))
        if extra:
            raise ValueError(f"GraphCollate: the batch has modalities {extra} outside the schema {names}")
        data = self.builder.batch(batch)
        layout = flatten(data, self.builder.node_types(names), self.builder.edge_types(names))
        prepared = None
        if self.prepare is not None and layout.node_types == tuple(self.prepare.node_types) \
                and layout.edge_types == tuple(self.prepare.edge_types):
            with torch.no_grad():
                prepared = (self.prepare.prepare_key, self.prepare.prepare(layout))
        return batch.with_graph(PrebuiltGraph(data, layout, repr(self.builder), prepared))

    def __repr__(self) -> str:
        mods = "" if self.modalities is None else f", modalities={self.modalities}"
        return f"GraphCollate({self.builder!r}{mods})"


def with_graphs(batches: Iterable[MultimodalBatch], collate: Union[GraphCollate, GraphBuilder],
                prefetch: int = 2) -> "GraphBatches":
    """Re-iterable ``batches`` with their graphs attached as they are drawn (e.g. for :func:`mmgraph.train.fit`).

    Args:
        batches: Any re-iterable of :class:`~mmgraph.MultimodalBatch` (a list, a DataLoader, ...).
        collate: The :class:`GraphCollate` (or a builder, for ``GraphCollate(builder)``).
        prefetch: Batches whose graphs a background thread builds ahead of the one in use
            (``0``: build each when it is drawn). The order and the graphs are the same.
    """
    if not isinstance(prefetch, int) or isinstance(prefetch, bool) or prefetch < 0:
        raise ValueError(f"prefetch: expected an int >= 0, got {prefetch!r}")
    return GraphBatches(batches, collate if isinstance(collate, GraphCollate) else GraphCollate(collate), prefetch)


class GraphBatches:
    """What :func:`with_graphs` returns: ``batches``, each passed through ``collate.attach``."""

    def __init__(self, batches: Iterable[MultimodalBatch], collate: GraphCollate, prefetch: int = 2) -> None:
        self.batches, self.collate, self.prefetch = batches, collate, prefetch

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]

    @property
    def generator(self) -> Optional[torch.Generator]:
        """The underlying batches' shuffling generator, if any (``fit`` saves it to resume exactly)."""
        return getattr(self.batches, "generator", None)

    @property
    def generators(self) -> Optional[list[torch.Generator]]:
        """Every generator the underlying batches draw from, when they say (``fit`` saves them all)."""
        return getattr(self.batches, "generators", None)

    def __iter__(self) -> Iterator[MultimodalBatch]:
        if self.prefetch == 0:
            for batch in self.batches:
                yield self.collate.attach(batch)
            return
        yield from _prefetched(iter(self.batches), self.collate.attach, self.prefetch)


_DONE = object()


def _prefetched(items: Iterator[Any], fn: Any, depth: int) -> Iterator[Any]:
    """``fn(item)`` for each item, computed by a background thread up to ``depth`` items ahead."""
    results: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                results.put((True, fn(item)))
        except BaseException as exc:  # handed to the consumer, raised there
            results.put((False, exc))
            return
        results.put((True, _DONE))

    thread = threading.Thread(target=work, name="mmgraph-graphs", daemon=True)
    thread.start()
    try:
        while True:
            ok, value = results.get()
            if not ok:
                raise value
            if value is _DONE:
                return
            yield value
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                results.get(timeout=0.05)
            except queue.Empty:
                pass
