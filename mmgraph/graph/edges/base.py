"""The edge-strategy interface and the edge attributes strategies share."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from mmgraph.data.batch import ModalityBatch

__all__ = ["EdgeStrategy", "valid_pairs", "relative_position", "time_relation", "stable_topk_mask"]


class EdgeStrategy:
    r"""Decides which elements of a source modality send messages to which elements of a target.

    A strategy works on padded batches, so one call builds the edges of every sample at
    once: :meth:`adjacency` returns a boolean tensor ``adj`` of shape
    :math:`(B, L_\text{src}, L_\text{dst})` where ``adj[b, i, j]`` means element ``i`` of the
    source modality links to element ``j`` of the target modality in sample ``b`` (it must
    be ``False`` on padding). :meth:`edge_attr` returns the attributes of the listed edges.

    Subclasses set :attr:`edge_dim` (number of attribute columns, ``0`` for none),
    :attr:`requires` (``"pos"`` and/or ``"time"``) and :attr:`intra_only`.
    """

    #: Number of edge-attribute columns this strategy produces (0: no attributes).
    edge_dim: int = 0
    #: Element metadata both endpoint modalities must carry ("pos", "time").
    requires: tuple[str, ...] = ()
    #: True for strategies that only make sense within one modality (e.g. sequences).
    intra_only: bool = False

    def adjacency(self, src: ModalityBatch, dst: ModalityBatch, same: bool) -> Tensor:
        """Boolean links of shape ``(B, L_src, L_dst)``; ``same`` is True for intra-modal edges."""
        raise NotImplementedError

    def edge_attr(self, src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Optional[Tensor]:
        """Attributes ``(E, edge_dim)`` of the edges ``(b, i) -> (b, j)``, or ``None`` if ``edge_dim == 0``."""
        return None

    def check(self, src_name: str, src: ModalityBatch, dst_name: str, dst: ModalityBatch) -> None:
        """Raise a ``ValueError`` if the modalities lack what this strategy needs."""
        for key in self.requires:
            for name, mb in ((src_name, src), (dst_name, dst)):
                if getattr(mb, key) is None:
                    raise ValueError(
                        f"{self!r} on ({src_name!r}, {dst_name!r}) needs {key} for modality {name!r}, "
                        f"which has none: pass Modality(x, {key}=...)"
                    )
        pos_dim = getattr(self, "pos_dim", None)
        if pos_dim is not None and "pos" in self.requires:
            for name, mb in ((src_name, src), (dst_name, dst)):
                got = mb.pos.size(-1)
                if got != pos_dim:
                    raise ValueError(
                        f"{self!r} expects pos of dimension {pos_dim} for modality {name!r}, got {got}; "
                        f"pass pos_dim={got}"
                    )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._repr_args().items())
        return f"{self.__class__.__name__}({args})"

    def _repr_args(self) -> dict[str, object]:
        return {}


def valid_pairs(src: ModalityBatch, dst: ModalityBatch, same: bool, self_loops: bool = False) -> Tensor:
    """``(B, L_src, L_dst)`` mask of element pairs that both exist (without ``i == j`` when ``same``)."""
    valid = src.mask.unsqueeze(2) & dst.mask.unsqueeze(1)
    if same and not self_loops:
        eye = torch.eye(valid.size(1), dtype=torch.bool, device=valid.device)
        valid = valid & ~eye
    return valid


def stable_topk_mask(score: Tensor, allowed: Tensor, k: int, largest: bool) -> Tensor:
    r"""For every target column, mark the ``k`` best-scoring allowed sources.

    Ties are broken by the lower source index (a stable sort), so the result does not
    depend on how much padding a batch has.

    Args:
        score: ``(B, L_src, L_dst)`` scores.
        allowed: ``(B, L_src, L_dst)`` mask of candidate pairs.
        k: Neighbours per target (fewer where fewer candidates exist).
        largest: Keep the largest scores (similarities) instead of the smallest (distances).
    """
    fill = float("-inf") if largest else float("inf")
    s = score.masked_fill(~allowed, fill)
    order = torch.sort(s, dim=1, descending=largest, stable=True).indices
    k = min(k, s.size(1))
    top = order[:, :k, :]
    chosen = torch.zeros_like(allowed)
    chosen.scatter_(1, top, True)
    return chosen & allowed


def relative_position(src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """``[pos_src - pos_dst, ||pos_src - pos_dst||]`` per edge: ``(E, pos_dim + 1)``."""
    delta = src.pos[b, i] - dst.pos[b, j]
    return torch.cat([delta, delta.norm(dim=-1, keepdim=True)], dim=-1)


def time_relation(src: ModalityBatch, dst: ModalityBatch, b: Tensor, i: Tensor, j: Tensor) -> Tensor:
    r"""``[center_src - center_dst, IoU(span_src, span_dst)]`` per edge: ``(E, 2)``.

    The IoU of two spans is their intersection over their union (0 when disjoint; 1 for
    identical spans, including identical time stamps).
    """
    ts, td = src.time[b, i], dst.time[b, j]
    center = (ts.sum(-1) - td.sum(-1)) / 2
    inter = (torch.minimum(ts[:, 1], td[:, 1]) - torch.maximum(ts[:, 0], td[:, 0])).clamp(min=0)
    union = torch.maximum(ts[:, 1], td[:, 1]) - torch.minimum(ts[:, 0], td[:, 0])
    iou = torch.where(union > 0, inter / union.clamp(min=1e-12), (ts == td).all(-1).to(ts.dtype))
    return torch.stack([center, iou], dim=-1)
