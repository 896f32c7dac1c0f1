"""Relation Network baseline (Santoro et al., NeurIPS 2017): a query-conditioned MLP over all object pairs."""

from __future__ import annotations

from typing import Mapping, Optional, Unpack

import torch
from torch import Tensor, nn

from mmgraph.baselines._common import choose_query, join_modalities
from mmgraph.data.batch import MultimodalBatch
from mmgraph.nn.encoders import masked_mean
from mmgraph.nn.fusion_model import FusionModel, FusionOptions, check_positive_int
from mmgraph.nn.heads import make_head
from mmgraph.registry import register_model

__all__ = ["RelationNetwork"]


@register_model("rn")
class RelationNetwork(FusionModel):
    r"""Relation Network: sum a query-conditioned MLP over every ordered pair of objects.

    Following Santoro et al., "A simple neural network module for relational reasoning"
    (NeurIPS 2017). The *objects* are the encoded elements of every modality except the query
    modality (sorted by name, concatenated along the length axis), each tagged with a learned
    modality-type embedding :math:`e_m`; the *query* is the masked mean of the encoded query
    modality:

    .. math::

        O = [\,h_{m_1,1} + e_{m_1}; \dots;\ h_{m_k, L} + e_{m_k}\,] \in \mathbb{R}^{L_o \times H},
        \qquad
        q = \frac{\sum_i \mu_{q,i} h_{q,i}}{\max(1, \sum_i \mu_{q,i})}.

    With the object mask :math:`\mu_i \in \{0, 1\}` (padded or missing objects are 0):

    .. math::

        a = f_\phi\Big(\sum_{i=1}^{L_o} \sum_{j=1}^{L_o} \mu_i \mu_j\, g_\theta([\,o_i; o_j; q\,])\Big)

    over all ordered pairs, including :math:`i = j` as in the paper. :math:`g_\theta` is an MLP
    of ``g_layers`` ``Linear`` layers of width ``g_hidden``, each followed by a ReLU (as in the
    paper); :math:`f_\phi` is the task head (:func:`~mmgraph.nn.heads.make_head` with
    ``f_layers`` layers; for ``task="embedding"`` the output is :math:`\ell_2`-normalised).

    The pairs are never materialised as concatenations: the first layer of :math:`g_\theta`,
    :math:`W [o_i; o_j; q] + b`, is computed as :math:`W_a o_i + W_b o_j + W_q q + b` by splitting
    :math:`W = [W_a\ W_b\ W_q]` and broadcasting :math:`(B, L_o, 1, G) + (B, 1, L_o, G) + (B, 1, 1, G)`,
    so one forward costs :math:`O(B L_o^2 G^2)` with no Python loop over pairs or samples.
    A sample without the query modality gets :math:`q = 0`; one without any object gets a zero
    pair sum (the output stays finite).

    Args:
        in_dims, hidden, out_dim, task, dropout, extractors, film: as in :class:`~mmgraph.nn.FusionModel`;
            ``dropout`` also applies in the head (not inside :math:`g_\theta`).
        query: The query modality (e.g. ``"text"`` or ``"question"``); ``None`` takes the first
            modality in sorted order (no name is special).
        g_layers: Number of ``Linear`` layers of :math:`g_\theta` (the paper uses 4).
        g_hidden: Width :math:`G` of :math:`g_\theta` (and the input width of :math:`f_\phi`);
            ``None`` means ``hidden``.
        f_layers: Number of ``Linear`` layers of the head :math:`f_\phi`.

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` whose modalities are a subset of ``in_dims``
        - **objects** (:meth:`objects`): :math:`(B, L_o, H)` and mask :math:`(B, L_o)`, where
          :math:`L_o` sums the padded lengths of the object modalities present in the batch
        - **relations** (:meth:`relations`): :math:`(B, G)`
        - **output:** :math:`(B, \text{out\_dim})`
    """

    def __init__(self, in_dims: Mapping[str, int], hidden: int = 128, out_dim: int = 1, *,
                 query: Optional[str] = None, g_layers: int = 4, g_hidden: Optional[int] = None, f_layers: int = 2,
                 **options: Unpack[FusionOptions]) -> None:
        super().__init__(in_dims, hidden, out_dim, **options)
        names = self.names
        query = choose_query(names, query, "relation network", "objects to relate")
        self.query = query
        self.object_names = [n for n in names if n != query]
        self.g_layers = check_positive_int(g_layers, "g_layers")
        self.g_hidden = hidden if g_hidden is None else check_positive_int(g_hidden, "g_hidden")
        self.f_layers = check_positive_int(f_layers, "f_layers")
        self.type_embedding = nn.Parameter(torch.empty(len(self.object_names), hidden))
        layers: list[nn.Module] = []
        for i in range(g_layers):
            layers += [nn.Linear(3 * hidden if i == 0 else self.g_hidden, self.g_hidden), nn.ReLU()]
        #: :math:`g_\theta`; ``g[0]`` takes ``[o_i; o_j; q]`` (width ``3 * hidden``).
        self.g = nn.Sequential(*layers)
        self.head = make_head(self.task, self.g_hidden, out_dim, hidden=hidden, dropout=self.dropout_rate,
                              num_layers=f_layers)
        self._reset_own()

    def _reset_own(self) -> None:
        nn.init.normal_(self.type_embedding, std=0.02)

    def reset_parameters(self) -> None:
        self.reset_encoders()
        self._reset_own()
        for layer in self.g:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        self.head.reset_parameters()  # type: ignore[operator]

    def objects(self, batch: MultimodalBatch, encoded: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Objects ``(B, L_o, H)`` (type embeddings added) and their mask ``(B, L_o)``, ``True`` = real."""
        lead = next(iter(encoded.values())).new_zeros(batch.batch_size, 0, self.hidden)
        return join_modalities(batch, encoded, self.object_names, self.type_embedding, lead)

    def query_vector(self, batch: MultimodalBatch, encoded: Mapping[str, Tensor]) -> Tensor:
        """Masked mean ``(B, H)`` of the encoded query modality; zeros where it is missing."""
        if self.query in encoded:
            return masked_mean(encoded[self.query], batch[self.query].mask)
        like = next(iter(encoded.values()))
        return like.new_zeros(batch.batch_size, self.hidden)

    def pair_sum(self, objects: Tensor, mask: Tensor, q: Tensor) -> Tensor:
        r""":math:`\sum_{i,j} \mu_i \mu_j\, g_\theta([o_i; o_j; q])`, batched.

        Shapes: ``objects (B, L, H)``, ``mask (B, L)``, ``q (B, H)`` -> ``(B, g_hidden)``.
        """
        h = self.hidden
        first: nn.Linear = self.g[0]  # type: ignore[assignment]
        w = first.weight  # (G, 3H) = [W_a W_b W_q]
        left = objects @ w[:, :h].t()  # (B, L, G): W_a o_i
        right = objects @ w[:, h : 2 * h].t()  # (B, L, G): W_b o_j
        cond = q @ w[:, 2 * h :].t() + first.bias  # (B, G): W_q q + b
        z = left.unsqueeze(2) + right.unsqueeze(1) + cond[:, None, None, :]  # (B, L_i, L_j, G)
        z = self.g[1:](z)
        pair_mask = (mask.unsqueeze(2) & mask.unsqueeze(1)).to(z.dtype)  # (B, L_i, L_j)
        return (z * pair_mask.unsqueeze(-1)).sum(dim=(1, 2))

    def relations(self, batch: MultimodalBatch) -> Tensor:
        """The pair sum fed to the head, ``(B, g_hidden)``."""
        batch, encoded = self.encode(batch)  # runs extractors, validates, encodes
        objects, mask = self.objects(batch, encoded)
        return self.pair_sum(objects, mask, self.query_vector(batch, encoded))

    def forward(self, batch: MultimodalBatch) -> Tensor:
        return self.head(self.relations(batch))

    def _repr_extra(self) -> dict[str, object]:
        return {"query": self.query, "g_layers": self.g_layers, "f_layers": self.f_layers}
