"""Late-fusion baseline: one predictor per modality, averaged over the modalities present."""

from __future__ import annotations

from typing import Mapping, Unpack

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.baselines._common import pool_modalities
from mmgraph.data.batch import MultimodalBatch
from mmgraph.nn.fusion_model import FusionModel, FusionOptions, check_positive_int
from mmgraph.nn.heads import MLP
from mmgraph.registry import register_model

__all__ = ["LateFusion"]


@register_model("late")
class LateFusion(FusionModel):
    r"""Late fusion: average the predictions of independent per-modality predictors.

    With encoded elements :math:`h_{m,i}`, element mask :math:`\mu_{m,i}`, presence
    :math:`p_m = \max_i \mu_{m,i}` and pooled vector
    :math:`\bar h_m = \sum_i \mu_{m,i} h_{m,i} / \max(1, \sum_i \mu_{m,i})`:

    .. math::

        y_m = \mathrm{MLP}_m(\bar h_m), \qquad
        y = \frac{\sum_m p_m \, y_m}{\max\!\left(1, \sum_m p_m\right)}

    i.e. the mean of the per-modality outputs (logits, values or embeddings) over the
    modalities present in each sample; a missing modality has no say. For
    ``task="embedding"`` the average is :math:`\ell_2`-normalised: :math:`y / \lVert y \rVert`.
    A sample left with no modality at all (possible after
    :meth:`~mmgraph.MultimodalBatch.without`) gets :math:`y = 0`, not NaN.

    Args:
        in_dims, hidden, out_dim, task, dropout, extractors, film: as in :class:`~mmgraph.nn.FusionModel`;
            ``hidden`` is also the predictors' hidden width, and ``dropout`` also follows every hidden
            predictor layer.
        num_layers: Number of ``Linear`` layers of each per-modality predictor
            (``2`` matches :func:`~mmgraph.nn.heads.make_head`).

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` whose modalities are a subset of ``in_dims``
        - **per modality** (:meth:`predict_per_modality`): :math:`(B, \text{out\_dim})` and presence :math:`(B,)`
        - **output:** :math:`(B, \text{out\_dim})`
    """

    def __init__(self, in_dims: Mapping[str, int], hidden: int = 128, out_dim: int = 1, *,
                 num_layers: int = 2, **options: Unpack[FusionOptions]) -> None:
        super().__init__(in_dims, hidden, out_dim, **options)
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.predictors = nn.ModuleDict(
            {name: MLP(hidden, hidden, out_dim, num_layers=num_layers, dropout=self.dropout_rate)
             for name in self.names}
        )

    def reset_parameters(self) -> None:
        self.reset_encoders()
        for mlp in self.predictors.values():
            mlp.reset_parameters()

    def predict_per_modality(self, batch: MultimodalBatch) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Raw per-modality outputs ``{name: (B, out_dim)}`` and presence ``{name: (B,)}`` (float 0/1).

        Only the modalities in the batch are returned; a sample lacking one has presence ``0``.
        """
        batch, encoded = self.encode(batch)  # runs extractors, validates, encodes
        like = next(iter(encoded.values()))
        names = [n for n in self.names if n in encoded]
        means, present = pool_modalities(names, encoded, batch, like)
        return {n: self.predictors[n](means[n]) for n in names}, present

    def forward(self, batch: MultimodalBatch) -> Tensor:
        preds, present = self.predict_per_modality(batch)
        names = list(preds)
        stacked = torch.stack([preds[n] for n in names], dim=1)  # (B, M', out_dim)
        weights = torch.stack([present[n] for n in names], dim=1)  # (B, M')
        total = (stacked * weights.unsqueeze(-1)).sum(dim=1)
        out = total / weights.sum(dim=1, keepdim=True).clamp(min=1.0)
        return F.normalize(out, dim=-1) if self.task == "embedding" else out

    def _repr_extra(self) -> dict[str, object]:
        return {"num_layers": self.num_layers}
