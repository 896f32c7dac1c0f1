"""A GRU decoder that attends over node states: teacher forcing, greedy and beam-search decoding."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["AttentionGRUDecoder"]


class AttentionGRUDecoder(nn.Module):
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

    def _check(self, memory: Tensor, mask: Tensor) -> None:
        if memory.dim() != 3 or memory.size(-1) != self.memory_dim:
            raise ValueError(f"memory: expected (B, N, {self.memory_dim}), got {tuple(memory.shape)}")
        if mask.shape != memory.shape[:2]:
            raise ValueError(f"mask: expected shape {tuple(memory.shape[:2])} to match memory, got {tuple(mask.shape)}")

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
        state, keys = self.start(memory, mask), self.key(memory)
        steps = []
        for t in range(tokens.size(1)):
            logp, state, _ = self.step(tokens[:, t], state, memory, keys, mask)
            steps.append(logp)
        return torch.stack(steps, 1)

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
        keys = self.key(mem)
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

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab={self.vocab_size}, memory_dim={self.memory_dim}, hidden={self.hidden})"
