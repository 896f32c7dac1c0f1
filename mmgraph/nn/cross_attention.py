"""A post-norm cross-attention block (queries attend over a context), shared by attention models."""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

__all__ = ["CrossAttentionBlock"]


class CrossAttentionBlock(nn.Module):
    r"""Post-norm cross-attention block: :math:`x' = \mathrm{LN}(q + \mathrm{MHA}(q, c, c))`,
    :math:`x = \mathrm{LN}(x' + \mathrm{FF}(x'))` with :math:`\mathrm{FF} = \mathrm{Linear}(H, 2H) \to
    \mathrm{GELU} \to \mathrm{Dropout} \to \mathrm{Linear}(2H, H)`.

    Args:
        hidden: Width :math:`H`.
        heads: Number of attention heads (must divide ``hidden``).
        dropout: Dropout on the attention weights, the residual branches and inside FF.

    Shapes:
        - **q:** :math:`(B, L_q, H)`, **context:** :math:`(B, L_k, H)`,
          **key_padding_mask:** :math:`(B, L_k)` bool, ``True`` = ignore
        - **output:** :math:`(B, L_q, H)` and, when ``need_weights``, weights
          :math:`(B, L_q, L_k)` averaged over heads (else ``None``)
    """

    def __init__(self, hidden: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(hidden)
        self.ff = nn.Sequential(
            nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * hidden, hidden)
        )
        self.norm2 = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        self.attn.out_proj.reset_parameters()  # MultiheadAttention._reset_parameters leaves its weight alone
        self.attn._reset_parameters()
        for layer in (self.norm1, self.norm2, self.ff[0], self.ff[3]):
            layer.reset_parameters()

    def forward(
        self, q: Tensor, context: Tensor, key_padding_mask: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Optional[Tensor]]:
        a, w = self.attn(
            q, context, context, key_padding_mask=key_padding_mask, need_weights=need_weights, average_attn_weights=True
        )
        x = self.norm1(q + self.drop(a))
        x = self.norm2(x + self.drop(self.ff(x)))
        return x, w

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(hidden={self.attn.embed_dim}, heads={self.attn.num_heads})"
