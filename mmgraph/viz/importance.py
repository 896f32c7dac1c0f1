"""How much each modality and each edge type contributes to a prediction."""

from __future__ import annotations

from typing import Callable, Mapping, Optional, Union

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor, nn

from mmgraph.data.batch import ModalityBatch, MultimodalBatch
from mmgraph.graph.builder import FUSION
from mmgraph.nn.models.graph_fusion import GraphFusionModel, GraphFusionOutput
from mmgraph.viz.draw import figure_and_axes

__all__ = [
    "modality_importance",
    "edge_type_importance",
    "summarize",
    "plot_importance",
    "MODALITY_METHODS",
    "EDGE_METHODS",
    "edge_type_name",
]

EdgeType = tuple[str, str, str]

#: ``method`` values of :func:`modality_importance`.
MODALITY_METHODS = ("gradient", "occlusion", "attention")
#: ``method`` values of :func:`edge_type_importance`.
EDGE_METHODS = ("attention", "occlusion")


def edge_type_name(edge_type: EdgeType) -> str:
    """``("text", "cross", "audio")`` → ``"text→audio (cross)"``."""
    src, rel, dst = edge_type
    return f"{src}→{dst} ({rel})"


def _check_batch(batch: object) -> MultimodalBatch:
    if not isinstance(batch, MultimodalBatch):
        raise ValueError(f"batch: expected a MultimodalBatch (mmgraph.collate([...])), got {type(batch).__name__}")
    return batch


def _score(model: nn.Module, out: Tensor, target: Optional[Tensor]) -> Tensor:
    """The scalar per sample that is explained: the target (default: predicted) class's logit, or the regression output."""
    task = getattr(model, "task", "classification" if out.size(-1) > 1 else "regression")
    if task == "classification":
        if target is None:
            target = out.argmax(-1)
        target = torch.as_tensor(target, device=out.device).long().reshape(-1)
        if target.numel() != out.size(0):
            raise ValueError(f"target: expected one class per sample ({out.size(0)}), got {target.numel()}")
        if int(target.min()) < 0 or int(target.max()) >= out.size(-1):
            raise ValueError(f"target: expected classes in [0, {out.size(-1)}), got {target.tolist()}")
        return out.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return out.reshape(out.size(0), -1)[:, 0]


def _prepared(model: nn.Module, batch: MultimodalBatch) -> MultimodalBatch:
    prepare: Optional[Callable[[MultimodalBatch], MultimodalBatch]] = getattr(model, "prepare", None)
    return prepare(batch) if prepare is not None else batch


def _gradient(model: nn.Module, batch: MultimodalBatch, target: Optional[Tensor]) -> dict[str, Tensor]:
    batch = _prepared(model, batch)
    leaves: dict[str, Tensor] = {}
    mods: dict[str, ModalityBatch] = {}
    for name in batch.modalities:
        mb = batch[name]
        x = mb.x.detach().clone().requires_grad_(True)
        leaves[name] = x
        mods[name] = ModalityBatch(x, mb.mask, mb.pos, mb.time, mb.labels, name=name, check=False)
    with torch.enable_grad():
        out = model(MultimodalBatch(mods, y=batch.y))
        score = _score(model, out, target)
        grads = torch.autograd.grad(score.sum(), list(leaves.values()), allow_unused=True)
    result = {}
    for (name, x), grad in zip(leaves.items(), grads):
        contrib = torch.zeros_like(x) if grad is None else grad * x
        result[name] = (contrib.detach().sum(-1) * batch[name].mask).sum(-1)
    return result


@torch.no_grad()
def _occlusion(model: nn.Module, batch: MultimodalBatch, target: Optional[Tensor]) -> dict[str, Tensor]:
    out = model(batch)
    if target is None and getattr(model, "task", None) == "classification":
        target = out.argmax(-1)
    full = _score(model, _as_probs(model, out), target)
    names = batch.modalities + list(batch.raw)
    if len(names) < 2:
        raise ValueError(f"occlusion needs at least two modalities to remove one, got {names}")
    result = {}
    for name in sorted(names):
        rest = _score(model, _as_probs(model, model(batch.without(name))), target)
        result[name] = full - rest
    return result


def _as_probs(model: nn.Module, out: Tensor) -> Tensor:
    return out.softmax(-1) if getattr(model, "task", None) == "classification" else out


def _attention_output(model: nn.Module, batch: MultimodalBatch) -> GraphFusionOutput:
    if not isinstance(model, GraphFusionModel):
        raise ValueError(f"method='attention' needs a GraphFusionModel, got {type(model).__name__}; use 'gradient' or 'occlusion'")
    with torch.no_grad():
        out = model(batch, return_attention=True)
    assert isinstance(out, GraphFusionOutput)
    return out


def _attention_mass(out: GraphFusionOutput, key: Callable[[EdgeType], Optional[str]]) -> dict[str, Tensor]:
    """Attention summed over layers and heads-averaged edges, grouped by ``key(edge_type)``, per graph."""
    graph = out.graph
    size = out.out.size(0)
    mass: dict[str, Tensor] = {}
    for entry in out.attention:
        for et, a in entry.items():
            name = key(et)
            if name is None:
                continue
            w = a.weight.detach().float().reshape(a.weight.size(0), -1).mean(-1).clamp_min(0)
            owner = graph[et[2]].batch[a.edge_index[1]] if "batch" in graph[et[2]] else torch.zeros_like(a.edge_index[1])
            acc = mass.setdefault(name, w.new_zeros(size))
            acc.index_add_(0, owner, w)
    total = torch.stack(list(mass.values())).sum(0).clamp_min(1e-12) if mass else None
    return {k: v / total for k, v in mass.items()} if total is not None else {}


def modality_importance(
    model: nn.Module,
    batch: MultimodalBatch,
    method: str = "gradient",
    target: Optional[Tensor] = None,
) -> dict[str, Tensor]:
    r"""Contribution of each modality to each sample's prediction: ``{modality: (B,)}``.

    The explained quantity is the target class (default: the predicted class) for
    classification and the (first) output for regression.

    - ``"gradient"`` — gradient × input, :math:`\sum_{v \in m} \sum_d x_{vd}\, \partial f / \partial x_{vd}`
      over the elements of modality :math:`m` (after the model's extractors, e.g. on image
      regions): signed, independent of attention, works for every model;
    - ``"occlusion"`` — the change when the modality is removed,
      :math:`f(x) - f(x \setminus m)` (class probability for classification): signed, works
      for every model that accepts missing modalities;
    - ``"attention"`` — the share of attention mass (all layers, heads averaged) on edges
      leaving the modality's nodes (graph models only); in ``[0, 1]``, summing to 1 over
      modalities.

    :func:`summarize` turns the per-sample values into one share per modality.
    """
    batch = _check_batch(batch)
    if method not in MODALITY_METHODS:
        raise ValueError(f"method: expected one of {list(MODALITY_METHODS)}, got {method!r}")
    was_training = model.training
    model.eval()
    try:
        if method == "gradient":
            return _gradient(model, batch, target)
        if method == "occlusion":
            return _occlusion(model, batch, target)
        out = _attention_output(model, batch)
        return _attention_mass(out, lambda et: None if et[0] == FUSION else et[0])
    finally:
        model.train(was_training)


def edge_type_importance(
    model: GraphFusionModel,
    batch: MultimodalBatch,
    method: str = "attention",
    target: Optional[Tensor] = None,
) -> dict[EdgeType, Tensor]:
    r"""Contribution of each edge type (modality pair) to each sample's prediction: ``{edge_type: (B,)}``.

    - ``"attention"`` — each edge type's share of the attention mass (all layers);
    - ``"occlusion"`` — :math:`f(x) - f(x \text{ without the edge type})` (class probability for
      classification), which does not depend on attention.
    """
    batch = _check_batch(batch)
    if method not in EDGE_METHODS:
        raise ValueError(f"method: expected one of {list(EDGE_METHODS)}, got {method!r}")
    if not isinstance(model, GraphFusionModel):
        raise ValueError(f"edge_type_importance needs a GraphFusionModel, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    try:
        if method == "attention":
            out = _attention_output(model, batch)
            by_name = _attention_mass(out, lambda et: "__".join(et))
            return {tuple(k.split("__")): v for k, v in by_name.items()}  # type: ignore[misc]
        with torch.no_grad():
            logits = model(batch)
            if target is None and model.task == "classification":
                target = logits.argmax(-1)
            full = _score(model, _as_probs(model, logits), target)
            present = [et for et in model.edge_types]
            return {
                et: full - _score(model, _as_probs(model, model(batch, drop_edges=[et])), target) for et in present
            }
    finally:
        model.train(was_training)


def summarize(importance: Mapping[Union[str, EdgeType], Tensor]) -> dict[str, float]:
    """One share per modality/edge type: the mean absolute value over samples, normalised to sum to 1."""
    if not importance:
        raise ValueError("importance: expected a non-empty mapping")
    means = {
        (k if isinstance(k, str) else edge_type_name(k)): float(torch.as_tensor(v).detach().abs().float().mean())
        for k, v in importance.items()
    }
    total = sum(means.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in means.items()}


def plot_importance(
    results: Mapping[str, Mapping[str, float]],
    ax: Optional[Axes] = None,
    title: str = "modality importance",
) -> Figure:
    """Grouped bar chart: one group per modality (or edge type), one bar per method.

    Args:
        results: ``{method_name: {modality: share}}``, e.g.
            ``{"gradient × input": summarize(modality_importance(m, b)), "attention": ...}``.
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results: expected a non-empty {method: {modality: share}} mapping")
    keys = sorted({k for shares in results.values() for k in shares})
    methods = list(results)
    fig, ax = figure_and_axes(ax, (max(4.0, 1.2 * len(keys) + 1.5), 3.4))
    width = 0.8 / len(methods)
    x = np.arange(len(keys))
    for i, method in enumerate(methods):
        vals = [float(results[method].get(k, 0.0)) for k in keys]
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, vals, width, label=method)
    ax.set_xticks(x, keys, rotation=30 if max(len(k) for k in keys) > 8 else 0, ha="right" if len(keys) > 3 else "center")
    ax.set_ylabel("share")
    ax.set_title(title)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig
