"""Both decoders: teacher forcing, greedy = beam 1, beam search never scores below greedy, padding ignored."""

from __future__ import annotations

from typing import Union

import pytest
import torch

from mmgraph.captioning import AttentionGRUDecoder, TransformerDecoder

Decoder = Union[AttentionGRUDecoder, TransformerDecoder]
KINDS = ["gru", "transformer"]


def make(seed: int = 0, kind: str = "gru") -> tuple[Decoder, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    if kind == "gru":
        dec: Decoder = AttentionGRUDecoder(vocab_size=7, memory_dim=5, hidden=8).eval()
    else:
        dec = TransformerDecoder(vocab_size=7, memory_dim=5, hidden=8, num_layers=2, heads=2, max_len=8).eval()
    g = torch.Generator().manual_seed(seed)
    memory = torch.randn(3, 4, 5, generator=g)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    return dec, memory, mask


def sequence_logp(dec: Decoder, memory: torch.Tensor, mask: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Log-probability of each decoded sequence up to and including its eos."""
    inputs = torch.cat([torch.full((out.size(0), 1), dec.bos), out[:, :-1]], 1)
    logp = dec(memory, mask, inputs).gather(-1, out.unsqueeze(-1)).squeeze(-1)
    real = torch.ones_like(out, dtype=torch.bool)
    for b in range(out.size(0)):
        ends = (out[b] == dec.eos).nonzero()
        if len(ends):
            real[b, int(ends[0]) + 1 :] = False
    return (logp * real).sum(1)


@pytest.mark.parametrize("kind", KINDS)
def test_teacher_forcing_shape_and_log_probabilities(kind: str) -> None:
    dec, memory, mask = make(kind=kind)
    logits = dec(memory, mask, torch.randint(0, 7, (3, 6)))
    assert logits.shape == (3, 6, 7)
    torch.testing.assert_close(logits.exp().sum(-1), torch.ones(3, 6))


@pytest.mark.parametrize("kind", KINDS)
def test_padding_of_the_memory_is_ignored(kind: str) -> None:
    dec, memory, mask = make(kind=kind)
    tokens = torch.randint(0, 7, (3, 5))
    changed = memory.clone()
    changed[~mask] = 100.0
    torch.testing.assert_close(dec(memory, mask, tokens), dec(changed, mask, tokens))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(3))
def test_greedy_is_beam_one_and_beam_is_at_least_as_likely(seed: int, kind: str) -> None:
    dec, memory, mask = make(seed, kind)
    greedy = dec.greedy(memory, mask, max_len=6)
    assert torch.equal(greedy, dec.beam_search(memory, mask, max_len=6, beam_size=1))
    step = dec(memory, mask, torch.cat([torch.full((3, 1), dec.bos), greedy[:, :-1]], 1)).argmax(-1)
    first_eos = [(g == dec.eos).nonzero() for g in greedy]
    for b in range(3):  # greedy picks the argmax at every step up to its eos
        end = int(first_eos[b][0]) + 1 if len(first_eos[b]) else 6
        assert torch.equal(step[b, :end], greedy[b, :end])
        assert (greedy[b, end:] == 0).all()
    beam = dec.beam_search(memory, mask, max_len=6, beam_size=4)
    assert (sequence_logp(dec, memory, mask, beam) >= sequence_logp(dec, memory, mask, greedy) - 1e-5).all()


@pytest.mark.parametrize("kind", KINDS)
def test_errors(kind: str) -> None:
    dec, memory, mask = make(kind=kind)
    with pytest.raises(ValueError, match=r"memory: expected \(B, N, 5\)"):
        dec(memory[..., :3], mask, torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="mask: expected shape"):
        dec(memory, mask[:, :2], torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="beam_size: expected a positive int"):
        dec.beam_search(memory, mask, 4, beam_size=0)
    with pytest.raises(ValueError, match="vocab_size must be a positive int"):
        AttentionGRUDecoder(0, 4)
    with pytest.raises(ValueError, match="vocab_size must be a positive int"):
        TransformerDecoder(0, 4)


def test_transformer_decoder_is_causal_and_checks_lengths() -> None:
    dec, memory, mask = make(kind="transformer")
    tokens = torch.randint(3, 7, (3, 6))
    changed = tokens.clone()
    changed[:, 4:] = 3 + (tokens[:, 4:] - 2) % 4  # change only the last two inputs
    torch.testing.assert_close(dec(memory, mask, tokens)[:, :4], dec(memory, mask, changed)[:, :4])
    assert not torch.allclose(dec(memory, mask, tokens)[:, 4:], dec(memory, mask, changed)[:, 4:])
    with pytest.raises(ValueError, match="at most max_len=8 positions, got 9"):
        dec(memory, mask, torch.zeros(3, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="hidden.*\\(8\\).*divisible.*heads.*heads=3"):
        TransformerDecoder(7, 5, hidden=8, heads=3)


def test_a_sample_without_memory_stays_finite() -> None:
    dec, memory, mask = make(kind="transformer")
    mask[2] = False
    out = dec(memory, mask, torch.randint(0, 7, (3, 5)))
    assert torch.isfinite(out).all()
    changed = memory.clone()
    changed[2] = 50.0
    torch.testing.assert_close(dec(changed, mask, torch.zeros(3, 1, dtype=torch.long))[2],
                               dec(memory, mask, torch.zeros(3, 1, dtype=torch.long))[2])
