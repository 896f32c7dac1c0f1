"""Tensor Fusion Network baseline (Zadeh et al., EMNLP 2017)."""

from __future__ import annotations

import math
from typing import Mapping, Unpack

from torch import Tensor, nn

from mmgraph.baselines._common import pool_modalities
from mmgraph.data.batch import MultimodalBatch
from mmgraph.nn.fusion_model import FusionModel, FusionOptions, check_positive_int
from mmgraph.nn.heads import make_head
from mmgraph.registry import register_model

__all__ = ["TensorFusion"]


@register_model("tensor")
class TensorFusion(FusionModel):
    r"""Tensor Fusion Network: the outer product of the modality vectors, each extended by a 1.

    Following Zadeh et al., "Tensor Fusion Network for Multimodal Sentiment Analysis"
    (EMNLP 2017). With modalities :math:`m_1 < \dots < m_M` (sorted by name), pooled vectors
    :math:`\bar h_m = \sum_i \mu_{m,i} h_{m,i} / \max(1, \sum_i \mu_{m,i})` and presence
    :math:`p_m \in \{0, 1\}`:

    .. math::

        z_m = \begin{bmatrix} p_m (W_m \bar h_m + b_m) \\ 1 \end{bmatrix} \in \mathbb{R}^{r + 1},
        \qquad
        \mathcal{Z} = z_{m_1} \otimes z_{m_2} \otimes \dots \otimes z_{m_M}
        \in \mathbb{R}^{(r+1)^M},
        \qquad
        y = \mathrm{head}(\mathrm{Dropout}(\mathrm{vec}(\mathcal{Z})))

    where :math:`r` is ``rank_dim``. Thanks to the appended 1s, :math:`\mathcal{Z}` holds the
    constant 1, every unimodal vector, and every bi-, tri-, ... modal product. A missing
    modality has :math:`z_m = [0; 1]`, which keeps exactly the terms of the other modalities.
    ``vec`` flattens in row-major order (the first sorted modality varies slowest).

    Args:
        in_dims, hidden, out_dim, task, dropout, extractors, film: as in :class:`~mmgraph.nn.FusionModel`;
            ``hidden`` is also the head's hidden width, and ``dropout`` also applies to the fused
            tensor and in the head.
        rank_dim: Width :math:`r` of each modality's vector before the outer product; the
            fused size is :math:`(r+1)^M`, so keep it small.

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` whose modalities are a subset of ``in_dims``
        - **fused** (:meth:`fuse`): :math:`(B, (r+1)^M)`
        - **output:** :math:`(B, \text{out\_dim})`
    """

    def __init__(self, in_dims: Mapping[str, int], hidden: int = 128, out_dim: int = 1, *,
                 rank_dim: int = 16, **options: Unpack[FusionOptions]) -> None:
        super().__init__(in_dims, hidden, out_dim, **options)
        self.rank_dim = check_positive_int(rank_dim, "rank_dim")
        self.fused_dim = math.prod([rank_dim + 1] * len(self.names))
        self.reduce = nn.ModuleDict({name: nn.Linear(hidden, rank_dim) for name in self.names})
        self.dropout = nn.Dropout(self.dropout_rate)
        self.head = make_head(self.task, self.fused_dim, out_dim, hidden=hidden, dropout=self.dropout_rate)

    def reset_parameters(self) -> None:
        self.reset_encoders()
        for lin in self.reduce.values():
            lin.reset_parameters()
        self.head.reset_parameters()  # type: ignore[operator]

    def modality_vectors(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """The vectors :math:`z_m` of shape ``(B, rank_dim + 1)`` (last entry 1) for every modality."""
        batch, encoded = self.encode(batch)  # runs extractors, validates, encodes
        like = next(iter(encoded.values()))
        means, present = pool_modalities(self.names, encoded, batch, like)
        out: dict[str, Tensor] = {}
        for name in self.names:
            z = self.reduce[name](means[name]) * present[name].unsqueeze(-1)
            out[name] = nn.functional.pad(z, (0, 1), value=1.0)
        return out

    def fuse(self, batch: MultimodalBatch) -> Tensor:
        """The flattened outer product :math:`\\mathrm{vec}(\\mathcal{Z})` of shape ``(B, (rank_dim+1)^M)``."""
        vectors = self.modality_vectors(batch)
        fused = vectors[self.names[0]]
        for name in self.names[1:]:
            z = vectors[name]
            fused = (fused.unsqueeze(-1) * z.unsqueeze(1)).flatten(1)  # (B, P) x (B, r+1) -> (B, P*(r+1))
        return fused

    def forward(self, batch: MultimodalBatch) -> Tensor:
        return self.head(self.dropout(self.fuse(batch)))

    def _repr_extra(self) -> dict[str, object]:
        return {"rank_dim": self.rank_dim}
