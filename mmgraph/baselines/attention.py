"""Cross-attention baseline: one query modality attends over the elements of all the others."""

from __future__ import annotations

from typing import Mapping, Optional, Union, Unpack

import torch
from torch import Tensor, nn

from mmgraph.baselines._common import choose_query, join_modalities
from mmgraph.data.batch import MultimodalBatch
from mmgraph.nn.cross_attention import CrossAttentionBlock
from mmgraph.nn.fusion_model import FusionModel, FusionOptions, check_positive_int
from mmgraph.nn.encoders import masked_mean
from mmgraph.nn.heads import make_head
from mmgraph.registry import register_model

__all__ = ["AttentionFusion", "CrossAttentionBlock"]  # the block lives in mmgraph.nn.cross_attention


@register_model("attention")
class AttentionFusion(FusionModel):
    r"""Cross-attention fusion ("text attends to image"), batched with padding masks.

    The query modality :math:`q` (``query``; by default the first in sorted order) attends over the context: the
    elements of every other modality :math:`m` (sorted by name), each tagged with a learned
    modality-type embedding :math:`e_m`, preceded by one learned, always-present null token
    :math:`n`:

    .. math::

        C = [\,n;\ h_{m_1,1} + e_{m_1}; \dots;\ h_{m_k, L} + e_{m_k}\,] \in \mathbb{R}^{(1 + L_c) \times H}

    Padded or missing context elements are excluded with ``key_padding_mask``; the null token
    keeps the softmax well defined when a sample has no context at all (no NaN). Then
    ``num_layers`` :class:`CrossAttentionBlock` s update the query elements
    (:math:`x^{(0)} = h_q`, :math:`x^{(l)} = \mathrm{Block}_l(x^{(l-1)}, C)`, the context is fixed),
    and with masked means over real elements

    .. math::

        y = \mathrm{head}\big([\,\mathrm{mean}_{\mu_q}(x^{(\ell)});\ \mathrm{mean}_{\mu_C}(C_{1:})\,]\big).

    A sample without the query modality gets a zero query vector; one without context gets a
    zero context vector (the null token is not pooled).

    Args:
        in_dims, hidden, out_dim, task, dropout, extractors, film: as in :class:`~mmgraph.nn.FusionModel`;
            ``in_dims`` needs at least two modalities, ``hidden`` is also the attention width
            :math:`H` and the head's hidden width, and ``dropout`` also applies in the attention
            blocks and the head.
        query: The query modality (e.g. ``"text"`` or ``"question"``); ``None`` takes the first
            modality in sorted order (no name is special).
        num_layers: Number of cross-attention blocks.
        heads: Number of attention heads; must divide ``hidden``.

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` whose modalities are a subset of ``in_dims``
        - **output:** :math:`(B, \text{out\_dim})`; with ``return_attention=True`` also a list
          of ``num_layers`` weight tensors :math:`(B, L_q, 1 + L_c)`, averaged over heads:
          column 0 is the null token, then the context modalities present in the batch, in
          sorted order, each over its padded length. Each real query row sums to 1 and is 0
          on padded keys; rows of padded query elements are all 0.
    """

    def __init__(self, in_dims: Mapping[str, int], hidden: int = 128, out_dim: int = 1, *,
                 query: Optional[str] = None, num_layers: int = 1, heads: int = 4,
                 **options: Unpack[FusionOptions]) -> None:
        super().__init__(in_dims, hidden, out_dim, **options)
        names = self.names
        query = choose_query(names, query, "attention fusion", "a context to attend to")
        check_positive_int(heads, "heads")
        if hidden % heads != 0:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.names = names
        self.query = query
        self.context_names = [n for n in names if n != query]
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.heads = heads
        self.type_embedding = nn.Parameter(torch.empty(len(self.context_names), hidden))
        self.null_token = nn.Parameter(torch.empty(hidden))
        self.blocks = nn.ModuleList([CrossAttentionBlock(hidden, heads, self.dropout_rate) for _ in range(num_layers)])
        self.head = make_head(self.task, 2 * hidden, out_dim, hidden=hidden, dropout=self.dropout_rate)
        self._reset_own()

    def _reset_own(self) -> None:
        nn.init.normal_(self.type_embedding, std=0.02)
        nn.init.normal_(self.null_token, std=0.02)

    def reset_parameters(self) -> None:
        self.reset_encoders()
        self._reset_own()
        for block in self.blocks:
            block.reset_parameters()
        self.head.reset_parameters()  # type: ignore[operator]

    def context(self, batch: MultimodalBatch, encoded: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Context ``(B, 1 + L_c, H)`` (null token first) and its element mask ``(B, 1 + L_c)``, ``True`` = real."""
        lead = self.null_token.expand(batch.batch_size, 1, self.hidden)
        return join_modalities(batch, encoded, self.context_names, self.type_embedding, lead)

    def forward(
        self, batch: MultimodalBatch, return_attention: bool = False
    ) -> Union[Tensor, tuple[Tensor, list[Tensor]]]:
        batch, encoded = self.encode(batch)  # runs extractors, validates, encodes
        ctx, ctx_mask = self.context(batch, encoded)
        b, lk = ctx_mask.shape
        attentions: list[Tensor] = []
        if self.query in encoded:
            x = encoded[self.query]
            q_mask = batch[self.query].mask
            for block in self.blocks:
                x, w = block(x, ctx, ~ctx_mask, need_weights=return_attention)
                if return_attention:
                    assert w is not None
                    attentions.append(w * q_mask.unsqueeze(-1).to(w.dtype))
            q_vec = masked_mean(x, q_mask)
        else:
            q_vec = ctx.new_zeros(b, self.hidden)
            if return_attention:
                attentions = [ctx.new_zeros(b, 0, lk) for _ in self.blocks]
        c_vec = masked_mean(ctx[:, 1:], ctx_mask[:, 1:])
        out = self.head(torch.cat([q_vec, c_vec], dim=-1))
        return (out, attentions) if return_attention else out

    def _repr_extra(self) -> dict[str, object]:
        return {"query": self.query, "num_layers": self.num_layers, "heads": self.heads}
