"""One picture of one prediction: the graph with its attention, an attention map, the readout, modality importance."""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Optional, Sequence

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from mmgraph.data.batch import MultimodalBatch
from mmgraph.nn.models.graph_fusion import GraphFusionModel, GraphFusionOutput
from mmgraph.viz.attention import attention_heatmap, plot_readout, readout_weights
from mmgraph.viz.draw import draw
from mmgraph.viz.importance import modality_importance, plot_importance, summarize

__all__ = ["explain", "dataset_importance", "PANELS"]

#: Panels :func:`explain` can draw.
PANELS = ("graph", "heatmap", "readout", "importance")
_GRAPH_ONLY = ("graph", "heatmap", "readout")


def dataset_importance(
    model: nn.Module,
    batches: Iterable[MultimodalBatch],
    methods: Sequence[str] = ("gradient", "occlusion"),
    max_batches: Optional[int] = None,
) -> dict[str, dict[str, float]]:
    """Modality importance aggregated over a dataset: ``{method: {modality: share}}``.

    Every sample's values (from :func:`~mmgraph.viz.modality_importance`) are pooled, then
    :func:`~mmgraph.viz.summarize` gives each modality its share of the mean magnitude.
    """
    pooled: dict[str, dict[str, list[Tensor]]] = {m: {} for m in methods}
    for k, batch in enumerate(batches):
        if max_batches is not None and k >= max_batches:
            break
        for method in methods:
            for name, values in modality_importance(model, batch, method).items():
                pooled[method].setdefault(name, []).append(values)
    if not any(pooled.values()):
        raise ValueError("batches: expected at least one batch, got none")
    return {method: summarize({k: torch.cat(v) for k, v in per.items()}) for method, per in pooled.items()}


def explain(
    model: nn.Module,
    batch: MultimodalBatch,
    *,
    labels: Optional[Mapping[str, Sequence[str]]] = None,
    image: Optional[Tensor] = None,
    heatmap: Optional[tuple[str, str, bool]] = None,
    panels: Sequence[str] = PANELS,
    layer: int = -1,
    top_k: int = 40,
    title: Optional[str] = None,
    describe: Optional[Callable[[Tensor], str]] = None,
    truth: Optional[str] = None,
    dataset: Optional[Mapping[str, Mapping[str, float]]] = None,
) -> Figure:
    """A figure explaining ``model``'s prediction for the one sample in ``batch``.

    Panels (any subset of :data:`PANELS`, in this order):

    - ``"graph"``: :func:`~mmgraph.viz.draw` — the sample's graph over its image, the
      ``top_k`` edges by attention in ``layer``;
    - ``"heatmap"``: :func:`~mmgraph.viz.attention_heatmap` of ``heatmap = (src, dst, rollout)``
      (default: the first two modalities, through the attention rollout);
    - ``"readout"``: :func:`~mmgraph.viz.readout_weights` — which nodes the prediction used;
    - ``"importance"``: this sample's modality shares by gradient × input, occlusion and (graph
      models) attention, and, when ``dataset`` (from :func:`dataset_importance`) is given, the
      dataset's shares beside them.

    Baselines have no graph: only ``"importance"`` applies to them.

    Args:
        model: A trained model (graph fusion or baseline).
        batch: A batch holding one sample.
        labels: ``{modality: [label per element]}`` (e.g. the question's words).
        image: The sample's image, drawn under its spatial nodes.
        title: First line of the figure's title.
        describe: Turns the model's output into readable text (e.g. an answer name).
        truth: The ground-truth answer, shown next to the prediction.
        dataset: Dataset-level importance to show with the sample's.
    """
    if not isinstance(batch, MultimodalBatch) or batch.batch_size != 1:
        got = batch.batch_size if isinstance(batch, MultimodalBatch) else type(batch).__name__
        raise ValueError(f"batch: expected a MultimodalBatch holding one sample, got {got}")
    unknown = [p for p in panels if p not in PANELS]
    if unknown or not panels:
        raise ValueError(f"panels: expected a non-empty subset of {list(PANELS)}, got {list(panels)}")
    graph_model = isinstance(model, GraphFusionModel)
    if not graph_model and any(p in _GRAPH_ONLY for p in panels):
        raise ValueError(
            f"panels {[p for p in panels if p in _GRAPH_ONLY]} need a graph fusion model (graph-*), "
            f"got {type(model).__name__}; a baseline can show panels=['importance']"
        )
    was_training = model.training
    model.eval()
    try:
        return _explain(model, batch, graph_model, labels, image, heatmap, panels, layer, top_k, title, describe,
                        truth, dataset)
    finally:
        model.train(was_training)


def _explain(
    model: nn.Module,
    batch: MultimodalBatch,
    graph_model: bool,
    labels: Optional[Mapping[str, Sequence[str]]],
    image: Optional[Tensor],
    heatmap: Optional[tuple[str, str, bool]],
    panels: Sequence[str],
    layer: int,
    top_k: int,
    title: Optional[str],
    describe: Optional[Callable[[Tensor], str]],
    truth: Optional[str],
    dataset: Optional[Mapping[str, Mapping[str, float]]],
) -> Figure:
    with torch.no_grad():
        out = model(batch, return_attention=True) if graph_model else model(batch)
    pred = out.out if isinstance(out, GraphFusionOutput) else out
    present = set(batch.modalities) | set(batch.raw)
    names = {m: list(v) for m, v in (labels or {}).items() if m in present}

    mosaic = [["graph"] * 3] if "graph" in panels else []
    lower = [p for p in panels if p != "graph"]
    if lower:
        mosaic.append([lower[i * len(lower) // 3] for i in range(3)])
    fig = Figure(figsize=(15, 6 * ("graph" in panels) + 4.2 * bool(lower)), layout="constrained")
    axes = fig.subplot_mosaic(mosaic, height_ratios=[1.5, 1] if len(mosaic) == 2 else None)

    if "graph" in panels:
        assert isinstance(out, GraphFusionOutput)
        draw(out.graph, out.attention, image=image, labels=names, ax=axes["graph"], example=0, layer=layer, top_k=top_k)
    if "heatmap" in panels:
        assert isinstance(out, GraphFusionOutput)
        src, dst, rollout = heatmap or (*sorted(batch.modalities)[:2], True)  # type: ignore[misc]
        attention_heatmap(out.graph, out.attention, src, dst, example=0, labels=names, rollout=rollout,
                          layers=None if rollout else [layer], ax=axes["heatmap"])
    if "readout" in panels:
        assert isinstance(out, GraphFusionOutput)
        plot_readout(readout_weights(out, 0), labels=names, ax=axes["readout"])
    if "importance" in panels:
        methods = ["gradient", "occlusion"] + (["attention"] if graph_model else [])
        if len(present) < 2:
            methods.remove("occlusion")
        shares = {f"{m} (this sample)": summarize(modality_importance(model, batch, m)) for m in methods}
        for method, values in (dataset or {}).items():
            shares[f"{method} (dataset)"] = dict(values)
        plot_importance(shares, ax=axes["importance"])

    head = title or ""
    said = describe(pred[0]) if describe is not None else None
    facts = [f"answer: {truth}" if truth is not None else "", f"predicted: {said}" if said is not None else ""]
    line = " · ".join(f for f in facts if f)
    if head or line:
        fig.suptitle("\n".join(s for s in (head, line) if s), fontsize=12)
    return fig
