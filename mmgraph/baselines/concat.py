"""Early-fusion baseline: concatenate pooled modality vectors and presence flags, then an MLP."""

from __future__ import annotations

from typing import Mapping, Optional

import torch
from torch import Tensor, nn

from mmgraph.baselines._common import pool_modalities
from mmgraph.data.batch import MultimodalBatch
from mmgraph.nn.fusion_model import FusionModel, check_positive_int
from mmgraph.nn.heads import make_head
from mmgraph.registry import register_model

__all__ = ["ConcatFusion"]


@register_model("concat")
class ConcatFusion(FusionModel):
    r"""Early fusion by concatenation.

    With modalities :math:`m_1 < \dots < m_M` (sorted by name), encoded elements
    :math:`h_{m,i} \in \mathbb{R}^H` (from :class:`~mmgraph.nn.encoders.ModalityEncoders`),
    element mask :math:`\mu_{m,i} \in \{0, 1\}` and presence :math:`p_m = \max_i \mu_{m,i}`:

    .. math::

        \bar h_m = \frac{\sum_i \mu_{m,i} h_{m,i}}{\max(1, \sum_i \mu_{m,i})}, \qquad
        z = [\bar h_{m_1}; \dots; \bar h_{m_M}; p_{m_1}; \dots; p_{m_M}] \in \mathbb{R}^{MH + M}, \qquad
        y = \mathrm{MLP}(z).

    A missing modality (absent from the batch, or from one sample) contributes
    :math:`\bar h_m = 0` and :math:`p_m = 0`, so the MLP can tell "missing" from "all zeros".
    For ``task="embedding"`` the output is :math:`\ell_2`-normalised.

    Args:
        in_dims: Feature dimension of each modality, e.g. ``{"text": 384, "image": 512}``.
        hidden: Encoder width :math:`H` and width of the fusion MLP's hidden layers.
        out_dim: Output width (classes, regression targets or embedding size).
        task: One of ``"classification"``, ``"regression"``, ``"embedding"``.
        dropout: Dropout in the encoders and after every hidden MLP layer.
        extractors: Optional ``{modality: module}`` turning raw inputs into elements
            (e.g. :class:`~mmgraph.nn.GridCNN` for pixels); see :meth:`FusionModel.prepare`.
        film: A modality (e.g. ``"question"``) that conditions the others before fusion, FiLM
            in modulable extractors and on encoded elements (:class:`~mmgraph.nn.ModalityFiLM`).
        num_layers: Number of ``Linear`` layers of the fusion MLP (``2`` matches
            :func:`~mmgraph.nn.heads.make_head`); use it to match parameter budgets.

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` whose modalities are a subset of ``in_dims``
        - **output:** :math:`(B, \text{out\_dim})`
    """

    def __init__(
        self,
        in_dims: Mapping[str, int],
        hidden: int = 128,
        out_dim: int = 1,
        *,
        task: str = "classification",
        dropout: float = 0.0,
        extractors: Optional[Mapping[str, nn.Module]] = None,
        film: Optional[str] = None,
        num_layers: int = 2,
    ) -> None:
        super().__init__(in_dims, hidden, out_dim, task, dropout, extractors, film)
        self.num_layers = check_positive_int(num_layers, "num_layers")
        m = len(self.names)
        self.fused_dim = m * hidden + m
        self.head = make_head(task, self.fused_dim, out_dim, hidden=hidden, dropout=dropout, num_layers=num_layers)

    def reset_parameters(self) -> None:
        self.encoders.reset_parameters()
        self.reset_film()
        self.head.reset_parameters()

    def fuse(self, batch: MultimodalBatch) -> Tensor:
        """The concatenated vector :math:`z` of shape ``(B, M * hidden + M)`` fed to the MLP."""
        batch, encoded = self.encode(batch)  # runs extractors, validates, encodes
        like = next(iter(encoded.values()))
        means, present = pool_modalities(self.names, encoded, batch, like)
        parts = [means[n] for n in self.names] + [present[n].unsqueeze(-1) for n in self.names]
        return torch.cat(parts, dim=-1)

    def forward(self, batch: MultimodalBatch) -> Tensor:
        return self.head(self.fuse(batch))

    def _repr_extra(self) -> dict[str, object]:
        return {"num_layers": self.num_layers}
