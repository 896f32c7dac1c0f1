"""AttentionFusion: the query modality cross-attends over the other modalities, with masks."""

from __future__ import annotations

import pytest
import torch

from mmgraph.baselines import AttentionFusion
from mmgraph.data import ModalityBatch, MultimodalBatch, collate
from mmgraph.nn.encoders import masked_mean
from mmgraph.registry import get_model

from .conftest import HIDDEN, IN_DIMS


def key_mask(batch, model: AttentionFusion) -> torch.Tensor:
    """The documented key layout: null token, then each context modality in the batch (sorted)."""
    parts = [torch.ones(batch.batch_size, 1, dtype=torch.bool)]
    parts += [batch[n].mask for n in sorted(IN_DIMS) if n != model.query and n in batch.modalities]
    return torch.cat(parts, dim=1)


def scramble_padding(batch) -> MultimodalBatch:
    """The same batch with large random features wherever the mask is False."""
    mods = {}
    for name in batch.modalities:
        mb = batch[name]
        x = torch.where(mb.mask.unsqueeze(-1), mb.x, 100 * torch.randn_like(mb.x))
        assert not torch.equal(x, mb.x)
        mods[name] = ModalityBatch(x, mb.mask, name=name)
    return MultimodalBatch(mods)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_attention_weights_sum_to_one_and_skip_padding(batch, num_layers):
    model = AttentionFusion(IN_DIMS, HIDDEN, out_dim=2, num_layers=num_layers, query="text").eval()
    out, attn = model(batch, return_attention=True)
    torch.testing.assert_close(out, model(batch))
    assert len(attn) == num_layers
    kmask = key_mask(batch, model)
    qmask = batch["text"].mask
    lk = 1 + batch["audio"].x.size(1) + batch["image"].x.size(1)
    for w in attn:
        assert w.shape == (3, batch["text"].x.size(1), lk)
        sums = w.sum(dim=-1)
        torch.testing.assert_close(sums[qmask], torch.ones(int(qmask.sum())))
        assert (w[~qmask] == 0).all()  # padded query rows
        assert (w.transpose(1, 2)[~kmask] == 0).all()  # padded / missing keys
        assert (w.transpose(1, 2)[kmask][:, qmask.any(0)] > 0).any()


def test_padded_keys_and_queries_are_ignored(batch):
    model = AttentionFusion(IN_DIMS, HIDDEN, out_dim=3, num_layers=2, query="text").eval()
    out, attn = model(batch, return_attention=True)
    out2, attn2 = model(scramble_padding(batch), return_attention=True)
    torch.testing.assert_close(out2, out)
    for w, w2 in zip(attn, attn2):
        torch.testing.assert_close(w2, w)


def test_real_keys_do_matter(batch):
    model = AttentionFusion(IN_DIMS, HIDDEN, out_dim=3, query="text").eval()
    mods = {n: batch[n] for n in batch.modalities}
    image = batch["image"]
    mods["image"] = ModalityBatch(image.x + image.mask.unsqueeze(-1), image.mask, name="image")
    changed = model(MultimodalBatch(mods))
    same = ~image.present  # sample 1 has no image
    torch.testing.assert_close(changed[same], model(batch)[same])
    assert not torch.allclose(changed[~same], model(batch)[~same])


def test_no_context_attends_to_null_token(make_sample):
    model = AttentionFusion(IN_DIMS, HIDDEN, out_dim=2, query="text").eval()
    b = collate([make_sample(text=3), make_sample(text=2, image=2)])
    out, (w,) = model(b, return_attention=True)
    assert torch.isfinite(out).all()
    # sample 0 has no context: all its (real) attention goes to the null token (column 0)
    torch.testing.assert_close(w[0, :3, 0], torch.ones(3))
    assert (w[0, :, 1:] == 0).all()
    assert (w[1, :2, 0] < 1).all()


@pytest.mark.parametrize("batch_drop", [False, True])
def test_missing_query_gives_finite_output(make_sample, batch_drop):
    model = AttentionFusion(IN_DIMS, HIDDEN, out_dim=2, query="text").eval()
    no_text = make_sample(image=2, audio=3)
    b = collate([no_text] if batch_drop else [no_text, make_sample(text=4, image=1)])
    out, attn = model(b, return_attention=True)
    assert torch.isfinite(out).all()
    assert (attn[0][0] == 0).all()
    if batch_drop:
        assert attn[0].shape[:2] == (1, 0)
    # the pooled query vector is zero: same output as with a zero query vector fed to the head
    ctx, cmask = model.context(b, model.encoders(b))
    c_vec = masked_mean(ctx[:, 1:], cmask[:, 1:])
    expected = model.head(torch.cat([torch.zeros(b.batch_size, HIDDEN), c_vec], dim=-1))
    torch.testing.assert_close(out[0], expected[0])


def test_query_choice():
    assert AttentionFusion(IN_DIMS, HIDDEN).query == "audio"  # no name is special: the first in sorted order
    assert AttentionFusion(IN_DIMS, HIDDEN, query="text").query == "text"
    model = AttentionFusion(IN_DIMS, HIDDEN, query="image")
    assert model.query == "image" and model.context_names == ["audio", "text"]
    assert "query='image'" in repr(model)


def test_query_must_be_a_modality():
    with pytest.raises(ValueError, match=r"query:.*\['audio'.*'image'.*'text'\].*'video'"):
        AttentionFusion(IN_DIMS, HIDDEN, query="video")


@pytest.mark.parametrize("hidden,heads", [(10, 4), (8, 3)])
def test_hidden_not_divisible_by_heads(hidden, heads):
    with pytest.raises(ValueError, match=rf"hidden \({hidden}\) must be divisible by heads \({heads}\)"):
        get_model("attention", in_dims=IN_DIMS, hidden=hidden, heads=heads)


@pytest.mark.parametrize("heads", [1, 2, 8])
def test_heads_that_divide_hidden(heads, batch):
    model = AttentionFusion(IN_DIMS, HIDDEN, heads=heads, query="text")
    assert model.blocks[0].attn.num_heads == heads
    assert model(batch).shape == (3, 1)


def test_needs_two_modalities():
    with pytest.raises(ValueError, match=r"attention.*fusion.*needs.*2.*modalities.*\['text'\]"):
        AttentionFusion({"text": 6}, HIDDEN)


def test_type_embedding_distinguishes_modalities(make_sample):
    """Identical encoded features from two context modalities are told apart by the type embedding."""
    dims = {"audio": 4, "image": 4, "text": 6}
    model = AttentionFusion(dims, HIDDEN, query="text").eval()
    model.encoders.proj["audio"].load_state_dict(model.encoders.proj["image"].state_dict())
    s = make_sample(dims=dims, text=2, image=2)
    swapped = type(s)(text=s["text"], audio=s["image"])
    assert not torch.allclose(model(collate([s])), model(collate([swapped])))
    model.type_embedding.data.zero_()
    torch.testing.assert_close(model(collate([s])), model(collate([swapped])))
