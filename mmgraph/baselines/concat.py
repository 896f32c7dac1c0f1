"""Early-fusion baseline: concatenate pooled modality vectors and presence flags, then an MLP."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence, Unpack

import torch
from torch import Tensor

from mmgraph.baselines._common import pool_modalities
from mmgraph.data.batch import MultimodalBatch
from mmgraph.nn.fusion_model import FusionModel, FusionOptions, check_positive_int
from mmgraph.nn.heads import make_head
from mmgraph.nn.readout import check_flat as _check_flat
from mmgraph.nn.readout import check_pool as _check_pool
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
    With ``flat={m: n}``, :math:`z` also holds modality :math:`m`'s :math:`n` elements in order,
    :math:`[h_{m,1}; \dots; h_{m,n}]` (padding as zeros), e.g. the cells of a region grid, so the MLP
    has weights for each position (the CNN+MLP of the Relation Network paper reads its grid so).
    For ``task="embedding"`` the output is :math:`\ell_2`-normalised.

    Args:
        in_dims, hidden, out_dim, task, dropout, extractors, film: as in :class:`~mmgraph.nn.FusionModel`;
            ``hidden`` is also the MLP's hidden width, and ``dropout`` also follows every hidden MLP layer.
        num_layers: Number of ``Linear`` layers of the fusion MLP (``2`` matches
            :func:`~mmgraph.nn.heads.make_head`); use it to match parameter budgets.
        flat: ``{modality: elements}`` of modalities also read element by element, flattened
            (every sample must have exactly that many elements, padding included).
        pool: The modalities whose means :math:`\bar h_m` are in :math:`z` (default: all; the
            presence flags are always there), e.g. ``["question"]`` with the regions read by ``flat``.

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` whose modalities are a subset of ``in_dims``
        - **fused** (:meth:`fuse`): :math:`(B, MH + M + H \sum_m n_m)`
        - **output:** :math:`(B, \text{out\_dim})`
    """

    def __init__(self, in_dims: Mapping[str, int], hidden: int = 128, out_dim: int = 1, *,
                 num_layers: int = 2, flat: Optional[Mapping[str, int]] = None, pool: Optional[Sequence[str]] = None,
                 **options: Unpack[FusionOptions]) -> None:
        super().__init__(in_dims, hidden, out_dim, **options)
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.flat = _check_flat(flat, self.names)
        self.pool = _check_pool(pool, self.names, name="concat: pool", what="modalities")
        m = len(self.names)
        self.fused_dim = len(self.pool) * hidden + m + hidden * sum(self.flat.values())
        self.head = make_head(self.task, self.fused_dim, out_dim, hidden=hidden, dropout=self.dropout_rate,
                              num_layers=num_layers)

    def reset_parameters(self) -> None:
        self.reset_encoders()
        self.head.reset_parameters()

    def fuse(self, batch: MultimodalBatch) -> Tensor:
        """The concatenated vector :math:`z` of shape ``(B, M * hidden + M)`` fed to the MLP."""
        batch, encoded = self.encode(batch)  # runs extractors, validates, encodes
        like = next(iter(encoded.values()))
        means, present = pool_modalities(self.names, encoded, batch, like)
        parts = [means[n] for n in self.pool] + [present[n].unsqueeze(-1) for n in self.names]
        parts += [self._flat(n, encoded, batch) for n in self.flat]
        return torch.cat(parts, dim=-1)

    def _flat(self, name: str, encoded: dict[str, Tensor], batch: MultimodalBatch) -> Tensor:
        """``(B, n * hidden)``: modality ``name``'s ``n`` elements in order (zeros where padded or missing)."""
        n = self.flat[name]
        if name not in encoded:
            return next(iter(encoded.values())).new_zeros(batch.batch_size, n * self.hidden)
        h = encoded[name] * batch[name].mask.unsqueeze(-1).to(encoded[name].dtype)
        if h.size(1) != n:
            raise ValueError(f"concat: flat[{name!r}] expects {n} elements per sample, got {h.size(1)}")
        return h.reshape(h.size(0), n * self.hidden)

    def forward(self, batch: MultimodalBatch) -> Tensor:
        return self.head(self.fuse(batch))

    def _repr_extra(self) -> dict[str, object]:
        pool = {"pool": self.pool} if self.pool != list(self.names) else {}
        return {"num_layers": self.num_layers, **({"flat": self.flat} if self.flat else {}), **pool}
