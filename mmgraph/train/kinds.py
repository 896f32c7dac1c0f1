"""Task kinds: what a model of each kind outputs, trains with and is scored by."""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["KINDS", "Kind", "get_kind", "classification_scores", "regression_scores", "multilabel_scores",
           "retrieval_scores"]


def _f1(tp: Tensor, fp: Tensor, fn: Tensor) -> Tensor:
    denom = 2 * tp + fp + fn
    return torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.ones_like(denom, dtype=torch.float))


def classification_scores(logits: Tensor, targets: Tensor) -> dict[str, float]:
    """``acc`` and ``f1_macro`` (mean F1 over the classes that occur in targets or predictions)."""
    pred, y = logits.argmax(-1).reshape(-1), targets.reshape(-1).long()
    k = logits.size(-1)
    tp = torch.bincount(y[pred == y], minlength=k).float()
    fp = torch.bincount(pred, minlength=k).float() - tp
    fn = torch.bincount(y, minlength=k).float() - tp
    seen = (tp + fp + fn) > 0
    return {"acc": float((pred == y).float().mean()), "f1_macro": float(_f1(tp, fp, fn)[seen].mean())}


def regression_scores(pred: Tensor, targets: Tensor) -> dict[str, float]:
    """``mae``, ``rmse``, ``corr`` (Pearson) and ``r2`` over all outputs."""
    p, y = pred.reshape(-1).double(), targets.reshape(-1).double().to(pred.device)
    err = p - y
    var = ((y - y.mean()) ** 2).sum()
    pc, yc = p - p.mean(), y - y.mean()
    denom = pc.norm() * yc.norm()
    corr = float((pc * yc).sum() / denom) if float(denom) > 0 else 0.0
    return {"mae": float(err.abs().mean()), "rmse": float(err.pow(2).mean().sqrt()), "corr": corr,
            "r2": float(1 - (err ** 2).sum() / var) if float(var) > 0 else 0.0}


def multilabel_scores(logits: Tensor, targets: Tensor) -> dict[str, float]:
    """``f1_micro``, ``f1_macro`` and ``exact`` (all labels right) with labels predicted where the logit > 0."""
    pred, y = logits > 0, targets.reshape(logits.shape) > 0.5
    tp, fp, fn = (pred & y).sum(0).float(), (pred & ~y).sum(0).float(), (~pred & y).sum(0).float()
    seen = (tp + fp + fn) > 0
    micro = _f1(tp.sum(), fp.sum(), fn.sum())
    return {"f1_micro": float(micro), "f1_macro": float(_f1(tp, fp, fn)[seen].mean()) if bool(seen.any()) else 1.0,
            "exact": float((pred == y).all(-1).float().mean())}


def retrieval_scores(out: Tensor, targets: Tensor) -> dict[str, float]:
    """Recall@1/5/10 and mean rank, text → image (``t2i_``) and image → text (``i2t_``).

    ``out`` holds paired embeddings ``(N, 2, D)`` (image side, then text side) and ``targets`` the
    item id of each pair. The gallery holds each item once, with its first pair's two sides; each
    side queries the other.
    """
    from mmgraph.retrieval.metrics import retrieval_metrics

    if out.dim() != 3 or out.size(1) != 2:
        raise ValueError(f"retrieval outputs: expected paired embeddings (N, 2, D), got {tuple(out.shape)}")
    ids = targets.reshape(-1).tolist()
    first = sorted({v: i for i, v in reversed(list(enumerate(ids)))}.values())
    image, text = F.normalize(out[first, 0].float(), dim=-1), F.normalize(out[first, 1].float(), dim=-1)
    truth = torch.arange(len(first))
    return {**retrieval_metrics(text @ image.T, truth, prefix="t2i_"), **retrieval_metrics(image @ text.T, truth, prefix="i2t_")}


def _info_nce(out: Tensor, y: Tensor) -> Tensor:
    from mmgraph.retrieval.models import info_nce

    return info_nce(out, y)


def _cross_entropy(out: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(out, y.reshape(-1).long())


def _l1(out: Tensor, y: Tensor) -> Tensor:
    return F.l1_loss(out, y.to(out.dtype).reshape(out.shape))


def _bce(out: Tensor, y: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(out, y.to(out.dtype).reshape(out.shape))


class Kind(NamedTuple):
    """A task kind.

    Attributes:
        name: ``"classification"``, ``"regression"``, ``"multilabel"`` or ``"retrieval"``.
        head: The ``task`` a registered model is built with (its output head).
        loss: Training loss ``(output, targets) -> scalar``.
        scores: Metrics ``(outputs, targets) -> {name: value}``.
        monitor, mode: The validation metric that selects the best epoch and learning rate.
    """

    name: str
    head: str
    loss: Callable[[Tensor, Tensor], Tensor]
    scores: Callable[[Tensor, Tensor], Mapping[str, float]]
    monitor: str
    mode: str


#: The task kinds by name.
KINDS: dict[str, Kind] = {
    "classification": Kind("classification", "classification", _cross_entropy, classification_scores, "acc", "max"),
    "regression": Kind("regression", "regression", _l1, regression_scores, "mae", "min"),
    "multilabel": Kind("multilabel", "classification", _bce, multilabel_scores, "f1_micro", "max"),
    "retrieval": Kind("retrieval", "embedding", _info_nce, retrieval_scores, "t2i_r1", "max"),
}


def get_kind(name: str) -> Kind:
    """The kind ``name``, or a ``ValueError`` listing the kinds."""
    if name not in KINDS:
        raise ValueError(f"kind: expected one of {list(KINDS)}, got {name!r}")
    return KINDS[name]
