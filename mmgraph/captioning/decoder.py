"""Decoders that attend over node states (a GRU and a small Transformer): teacher forcing, greedy and beam search."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["AttentionGRUDecoder", "TransformerDecoder"]


class _StepDecoder(nn.Module):
    """Greedy and beam-search decoding for any decoder with ``start``, ``keys`` and ``step``.

    ``start(memory, mask)`` gives the initial state (a tensor whose first axis is the batch),
    ``keys(memory)`` whatever ``step`` needs from the memory once, and ``step(tokens, state,
    memory, keys, mask)`` returns ``(log-probabilities (B, V), new state, attention (B, N))``.
    """

    vocab_size: int
    memory_dim: int
    bos: int
    eos: int

    def _check(self, memory: Tensor, mask: Tensor) -> None:
        if memory.dim() != 3 or memory.size(-1) != self.memory_dim:
            raise ValueError(f"memory: expected (B, N, {self.memory_dim}), got {tuple(memory.shape)}")
        if mask.shape != memory.shape[:2]:
            raise ValueError(f"mask: expected shape {tuple(memory.shape[:2])} to match memory, got {tuple(mask.shape)}")

    @torch.no_grad()
    def greedy(self, memory: Tensor, mask: Tensor, max_len: int) -> Tensor:
        """The most likely token at every step: ``(B, max_len)`` ids, ``0`` after ``eos``."""
        return self.beam_search(memory, mask, max_len, beam_size=1)

    @torch.no_grad()
    def beam_search(self, memory: Tensor, mask: Tensor, max_len: int, beam_size: int = 3,
                    length_penalty: float = 0.0) -> Tensor:
        """Beam search: the best of ``beam_size`` hypotheses per sample by total log-probability.

        A finished hypothesis (it emitted ``eos``) keeps its score; hypotheses are compared by
        ``score / length ** length_penalty``. ``beam_size=1`` is greedy decoding.

        Returns:
            ``(B, max_len)`` token ids (``eos`` included, then ``0``).
        """
        self._check(memory, mask)
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(f"beam_size: expected a positive int, got {beam_size!r}")
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
            raise ValueError(f"max_len: expected a positive int, got {max_len!r}")
        b, k = memory.size(0), beam_size
        rep = lambda t: t.repeat_interleave(k, 0)  # noqa: E731 - (B, ...) -> (B*k, ...)
        mem, msk = rep(memory), rep(mask)
        keys = self.keys(mem)
        state = self.start(mem, msk)
        scores = memory.new_full((b, k), float("-inf"))
        scores[:, 0] = 0.0  # all beams start identical: keep one
        tokens = torch.full((b * k,), self.bos, dtype=torch.long, device=memory.device)
        out = torch.zeros(b * k, max_len, dtype=torch.long, device=memory.device)
        done = torch.zeros(b * k, dtype=torch.bool, device=memory.device)
        lengths = torch.zeros(b * k, device=memory.device)
        v = self.vocab_size
        for t in range(max_len):
            logp, state, _ = self.step(tokens, state, mem, keys, msk)
            # finished hypotheses only extend with padding at no cost
            pad_only = torch.full_like(logp, float("-inf"))
            pad_only[:, 0] = 0.0
            logp = torch.where(done.unsqueeze(-1), pad_only, logp)
            total = (scores.reshape(-1, 1) + logp).reshape(b, k * v)
            new_len = (lengths + (~done).float()).reshape(b, k, 1).expand(b, k, v).reshape(b, k * v)
            ranked = total / new_len.clamp(min=1) ** length_penalty if length_penalty else total
            _, pick = ranked.topk(k, dim=-1)
            beam, word = pick // v, pick % v
            scores = total.gather(1, pick)
            src = (torch.arange(b, device=memory.device).unsqueeze(1) * k + beam).reshape(-1)
            state, out, done, lengths = state[src], out[src], done[src], lengths[src]
            word = word.reshape(-1)
            out[:, t] = word
            lengths = lengths + (~done).float()
            done = done | (word == self.eos)
            tokens = word
            if bool(done.all()):
                break
        final = scores / lengths.reshape(b, k).clamp(min=1) ** length_penalty if length_penalty else scores
        best = final.argmax(-1)
        return out.reshape(b, k, max_len)[torch.arange(b, device=memory.device), best]


class AttentionGRUDecoder(_StepDecoder):
    r"""Generate token sequences while attending over a set of memory vectors (graph node states).

    At step :math:`t`, with previous token :math:`w_{t-1}`, state :math:`s_{t-1}` and memory
    :math:`M = (m_1, \dots, m_N)` (masked):

    .. math::

        \alpha_t = \operatorname{softmax}_n \frac{(W_q s_{t-1})^\top (W_k m_n)}{\sqrt{H}}, \qquad
        c_t = \sum_n \alpha_{t,n} m_n, \\
        s_t = \mathrm{GRU}([E w_{t-1}; c_t], s_{t-1}), \qquad
        p(w_t) = \operatorname{softmax}\big(W_o [s_t; c_t]\big),

    with :math:`s_0 = \tanh(W_0 \operatorname{mean}(M))`. Token ``0`` is padding, ``bos`` starts
    every sequence and ``eos`` ends it.

    Args:
        vocab_size: Number of tokens :math:`V`.
        memory_dim: Width of the memory vectors.
        hidden: GRU width :math:`H` (also the token embedding width).
        bos: Id of the begin token.
        eos: Id of the end token.

    Shapes:
        - **memory:** :math:`(B, N, \text{memory\_dim})`, **mask:** :math:`(B, N)` bool
        - **tokens:** :math:`(B, T)` decoder inputs (``bos`` first) → logits :math:`(B, T, V)`
    """

    def __init__(self, vocab_size: int, memory_dim: int, hidden: int = 64, bos: int = 1, eos: int = 2) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("memory_dim", memory_dim), ("hidden", hidden)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AttentionGRUDecoder: {name} must be a positive int, got {value!r}")
        self.vocab_size, self.memory_dim, self.hidden, self.bos, self.eos = vocab_size, memory_dim, hidden, bos, eos
        self.embed = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.init = nn.Linear(memory_dim, hidden)
        self.query = nn.Linear(hidden, hidden, bias=False)
        self.key = nn.Linear(memory_dim, hidden, bias=False)
        self.cell = nn.GRUCell(hidden + memory_dim, hidden)
        self.out = nn.Linear(hidden + memory_dim, vocab_size)

    def reset_parameters(self) -> None:
        for module in (self.embed, self.init, self.query, self.key, self.cell, self.out):
            module.reset_parameters()

    def keys(self, memory: Tensor) -> Tensor:
        """The attention keys :math:`W_k m_n`, ``(B, N, H)``."""
        return self.key(memory)

    def start(self, memory: Tensor, mask: Tensor) -> Tensor:
        """The initial state :math:`s_0`, ``(B, H)``."""
        weights = mask.unsqueeze(-1).to(memory.dtype)
        mean = (memory * weights).sum(1) / weights.sum(1).clamp(min=1)
        return torch.tanh(self.init(mean))

    def step(self, tokens: Tensor, state: Tensor, memory: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One step: ``(log-probabilities (B, V), new state (B, H), attention (B, N))``."""
        scores = (keys @ self.query(state).unsqueeze(-1)).squeeze(-1) / math.sqrt(self.hidden)
        alpha = scores.masked_fill(~mask, float("-inf")).softmax(-1).nan_to_num(0.0)
        context = (alpha.unsqueeze(-1) * memory).sum(1)
        state = self.cell(torch.cat([self.embed(tokens), context], -1), state)
        return F.log_softmax(self.out(torch.cat([state, context], -1)), -1), state, alpha

    def forward(self, memory: Tensor, mask: Tensor, tokens: Tensor) -> Tensor:
        """Teacher forcing: logits ``(B, T, V)`` of the next token after each input token."""
        self._check(memory, mask)
        state, keys = self.start(memory, mask), self.keys(memory)
        steps = []
        for t in range(tokens.size(1)):
            logp, state, _ = self.step(tokens[:, t], state, memory, keys, mask)
            steps.append(logp)
        return torch.stack(steps, 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab={self.vocab_size}, memory_dim={self.memory_dim}, hidden={self.hidden})"


class _DecoderLayer(nn.Module):
    """Pre-norm Transformer decoder layer that also returns its cross-attention weights."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.norm_self, self.norm_cross, self.norm_ff = nn.LayerNorm(hidden), nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.self_attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, hidden))

    def reset_parameters(self) -> None:
        for module in (self.norm_self, self.norm_cross, self.norm_ff, self.ff[0], self.ff[2]):
            module.reset_parameters()
        for attn in (self.self_attn, self.cross_attn):
            attn._reset_parameters()

    def forward(self, x: Tensor, memory: Tensor, causal: Tensor, pad: Tensor) -> tuple[Tensor, Tensor]:
        h = self.norm_self(x)
        x = x + self.self_attn(h, h, h, attn_mask=causal, need_weights=False)[0]
        h = self.norm_cross(x)
        context, weights = self.cross_attn(h, memory, memory, key_padding_mask=pad, need_weights=True)
        x = x + context
        return x + self.ff(self.norm_ff(x)), weights


class TransformerDecoder(_StepDecoder):
    r"""A small pre-norm Transformer decoder: causal self-attention over the caption so far, cross-attention over memory.

    With token embeddings :math:`E`, learned positions :math:`P` and the memory projected to
    the model width, :math:`M' = \mu \odot (W_m M)` (padding zeroed):

    .. math::

        x^{(0)}_t = E w_t + P_t, \qquad
        x \leftarrow x + \mathrm{SelfAttn}_{\le t}(\mathrm{LN}(x)), \quad
        x \leftarrow x + \mathrm{CrossAttn}(\mathrm{LN}(x), M'), \quad
        x \leftarrow x + \mathrm{FFN}(\mathrm{LN}(x))

    for each of ``num_layers`` layers (``heads`` attention heads, feed-forward width
    ``2 * hidden``, GELU), then :math:`p(w_{t+1}) = \operatorname{softmax}(W_o \mathrm{LN}(x_t))`.
    Self-attention lets a position read any earlier word directly (e.g. the subject of the
    statement it completes) and cross-attention look up the memory with it, where a GRU must
    carry both through its state. Token ``0`` is padding, ``bos`` starts every sequence and
    ``eos`` ends it. Decoding (:meth:`greedy`, :meth:`beam_search`) re-runs the prefix at every
    step (no key/value cache: captions are short).

    Args:
        vocab_size: Number of tokens :math:`V`.
        memory_dim: Width of the memory vectors.
        hidden: Model width (must be divisible by ``heads``).
        num_layers: Decoder layers.
        heads: Attention heads.
        max_len: Longest input sequence (learned positions).
        bos: Id of the begin token.
        eos: Id of the end token.

    Shapes:
        - **memory:** :math:`(B, N, \text{memory\_dim})`, **mask:** :math:`(B, N)` bool
        - **tokens:** :math:`(B, T)` decoder inputs (``bos`` first), :math:`T \le` ``max_len`` → logits :math:`(B, T, V)`
    """

    def __init__(self, vocab_size: int, memory_dim: int, hidden: int = 64, *, num_layers: int = 2, heads: int = 4,
                 max_len: int = 64, bos: int = 1, eos: int = 2) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("memory_dim", memory_dim), ("hidden", hidden),
                            ("num_layers", num_layers), ("heads", heads), ("max_len", max_len)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TransformerDecoder: {name} must be a positive int, got {value!r}")
        if hidden % heads:
            raise ValueError(f"TransformerDecoder: hidden ({hidden}) must be divisible by heads, got heads={heads}")
        self.vocab_size, self.memory_dim, self.hidden, self.bos, self.eos = vocab_size, memory_dim, hidden, bos, eos
        self.num_layers, self.heads, self.max_len = num_layers, heads, max_len
        self.embed = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.position = nn.Embedding(max_len, hidden)
        self.memory_proj = nn.Linear(memory_dim, hidden)
        self.layers = nn.ModuleList(_DecoderLayer(hidden, heads) for _ in range(num_layers))
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, vocab_size)

    def reset_parameters(self) -> None:
        for module in (self.embed, self.position, self.memory_proj, *self.layers, self.norm, self.out):
            module.reset_parameters()

    def keys(self, memory: Tensor) -> Tensor:
        """The memory projected to the model width, :math:`W_m M`, ``(B, N, hidden)`` (padding not yet zeroed)."""
        return self.memory_proj(memory)

    def start(self, memory: Tensor, mask: Tensor) -> Tensor:
        """The empty prefix, ``(B, 0)`` token ids: the decoding state is the sequence so far."""
        return torch.zeros(memory.size(0), 0, dtype=torch.long, device=memory.device)

    def _run(self, tokens: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Log-probabilities ``(B, T, V)`` and the last layer's head-averaged cross-attention ``(B, T, N)``."""
        t = tokens.size(1)
        if t > self.max_len:
            raise ValueError(f"tokens: expected at most max_len={self.max_len} positions, got {t}")
        x = self.embed(tokens) + self.position(torch.arange(t, device=tokens.device))
        causal = torch.ones(t, t, dtype=torch.bool, device=tokens.device).triu(1)  # True: may not attend
        pad = ~mask
        pad = pad & ~pad.all(-1, keepdim=True)  # no memory at all: attend over the (zeroed) padding
        projected = keys * mask.unsqueeze(-1).to(keys.dtype)
        weights = x.new_zeros(x.size(0), t, keys.size(1))
        for layer in self.layers:
            x, weights = layer(x, projected, causal, pad)
        return F.log_softmax(self.out(self.norm(x)), -1), weights

    def step(self, tokens: Tensor, state: Tensor, memory: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One step: ``(log-probabilities (B, V), prefix with tokens appended (B, t + 1), attention (B, N))``."""
        prefix = torch.cat([state, tokens.unsqueeze(1)], 1)
        logp, weights = self._run(prefix, keys, mask)
        return logp[:, -1], prefix, weights[:, -1]

    def forward(self, memory: Tensor, mask: Tensor, tokens: Tensor) -> Tensor:
        """Teacher forcing: logits ``(B, T, V)`` of the next token after each input token."""
        self._check(memory, mask)
        return self._run(tokens, self.keys(memory), mask)[0]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(vocab={self.vocab_size}, memory_dim={self.memory_dim}, hidden={self.hidden}, "
                f"num_layers={self.num_layers}, heads={self.heads})")
