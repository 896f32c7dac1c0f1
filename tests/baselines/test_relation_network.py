"""RelationNetwork: a query-conditioned MLP summed over all ordered object pairs (Santoro et al., 2017)."""

from __future__ import annotations

import pytest
import torch

from mmgraph.baselines import RelationNetwork
from mmgraph.data import ModalityBatch, MultimodalBatch, collate
from mmgraph.registry import get_model, get_model_builder

from .conftest import HIDDEN, IN_DIMS


def hand_forward(model: RelationNetwork, batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum over real ordered pairs (i, j), i == j included, of g([o_i; o_j; q]); f of it), sample by sample."""
    rows = []
    for b in range(batch.batch_size):
        objects = []
        for k, name in enumerate(model.object_names):
            if name in batch.modalities:
                real = batch[name].x[b][batch[name].mask[b]]
                objects += list(model.encoders.proj[name](real) + model.type_embedding[k])
        if model.query in batch.modalities and batch[model.query].mask[b].any():
            q_mb = batch[model.query]
            q = model.encoders.proj[model.query](q_mb.x[b][q_mb.mask[b]]).mean(dim=0)
        else:
            q = torch.zeros(model.hidden)
        total = torch.zeros(model.g_hidden)
        for o_i in objects:
            for o_j in objects:
                total = total + model.g(torch.cat([o_i, o_j, q]))
        rows.append(total)
    relations = torch.stack(rows)
    return relations, model.head(relations)


def scramble_padding(batch) -> MultimodalBatch:
    """The same batch with large random features wherever the mask is False."""
    mods = {}
    for name in batch.modalities:
        mb = batch[name]
        x = torch.where(mb.mask.unsqueeze(-1), mb.x, 100 * torch.randn_like(mb.x))
        mods[name] = ModalityBatch(x, mb.mask, name=name)
    return MultimodalBatch(mods)


def test_registered_as_rn():
    assert get_model_builder("rn") is RelationNetwork
    model = get_model("rn", in_dims=IN_DIMS, hidden=HIDDEN, g_layers=2, g_hidden=5, f_layers=1, query="text")
    assert isinstance(model, RelationNetwork) and model.g_hidden == 5
    assert "query='text', g_layers=2, f_layers=1" in repr(model)


@pytest.mark.parametrize("g_layers,g_hidden,f_layers", [(1, None, 1), (2, 5, 2), (4, None, 3)])
def test_pair_sum_equals_hand_loop(batch, g_layers, g_hidden, f_layers):
    model = RelationNetwork(IN_DIMS, HIDDEN, out_dim=2, g_layers=g_layers, g_hidden=g_hidden, f_layers=f_layers,
                            query="text")
    model.eval()
    with torch.no_grad():  # make the type embeddings and biases non-trivial
        model.type_embedding.normal_()
    relations, out = hand_forward(model, batch)
    torch.testing.assert_close(model.relations(batch), relations, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(model(batch), out, rtol=1e-4, atol=1e-5)
    assert sum(isinstance(m, torch.nn.Linear) for m in model.g) == g_layers
    assert model.relations(batch).shape == (3, g_hidden or HIDDEN)


def test_pairs_include_self_pairs(make_sample):
    """One object gives exactly the pair (o, o); two objects give four ordered pairs."""
    dims = {"image": 4, "text": 6}
    model = RelationNetwork(dims, HIDDEN, g_layers=2, query="text").eval()
    b = collate([make_sample(dims=dims, text=2, image=1), make_sample(dims=dims, text=2, image=2)])
    _, encoded = model.encode(b)
    o, _ = model.objects(b, encoded)
    q = model.query_vector(b, encoded)
    rel = model.relations(b)
    torch.testing.assert_close(rel[0], model.g(torch.cat([o[0, 0], o[0, 0], q[0]])))
    pairs = [model.g(torch.cat([o[1, i], o[1, j], q[1]])) for i in range(2) for j in range(2)]
    torch.testing.assert_close(rel[1], torch.stack(pairs).sum(0))


@pytest.mark.parametrize("query", ["text", "image"])
def test_padded_objects_are_ignored(batch, query):
    model = RelationNetwork(IN_DIMS, HIDDEN, out_dim=3, query=query).eval()
    torch.testing.assert_close(model(scramble_padding(batch)), model(batch))


def test_padding_invariant_across_batches(samples):
    model = RelationNetwork(IN_DIMS, HIDDEN, out_dim=3, query="text").eval()
    together = model(collate(samples))
    for i, s in enumerate(samples):
        torch.testing.assert_close(model(collate([s])), together[i : i + 1], rtol=1e-4, atol=1e-5)


def test_real_objects_do_matter(batch):
    model = RelationNetwork(IN_DIMS, HIDDEN, out_dim=3, query="text").eval()
    mods = {n: batch[n] for n in batch.modalities}
    image = batch["image"]
    mods["image"] = ModalityBatch(image.x + image.mask.unsqueeze(-1), image.mask, name="image")
    changed = model(MultimodalBatch(mods))
    same = ~image.present  # sample 1 has no image
    torch.testing.assert_close(changed[same], model(batch)[same])
    assert not torch.allclose(changed[~same], model(batch)[~same])


@pytest.mark.parametrize("batch_drop", [False, True])
def test_missing_query_is_a_zero_vector(make_sample, batch_drop):
    model = RelationNetwork(IN_DIMS, HIDDEN, out_dim=2, query="text").eval()
    no_text = make_sample(image=2, audio=3)
    b = collate([no_text] if batch_drop else [no_text, make_sample(text=4, image=1)])
    assert ("text" in b.modalities) is not batch_drop
    _, encoded = model.encode(b)
    q = model.query_vector(b, encoded)
    assert (q[0] == 0).all()
    relations, out = hand_forward(model, b)
    torch.testing.assert_close(model(b), out, rtol=1e-4, atol=1e-5)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("lengths", [{"text": 3}, {"text": 2, "audio": 0}])
def test_no_objects_gives_zero_pair_sum(make_sample, lengths):
    model = RelationNetwork(IN_DIMS, HIDDEN, out_dim=2, query="text").eval()
    lengths = {k: v for k, v in lengths.items() if v}
    b = collate([make_sample(**lengths), make_sample(text=1, image=2)])
    rel = model.relations(b)
    assert (rel[0] == 0).all() and (rel[1] != 0).any()
    out = model(b)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0], model.head(torch.zeros(1, model.g_hidden))[0])
    only_text = collate([make_sample(text=2)])  # no object modality in the whole batch
    assert (model.relations(only_text) == 0).all() and torch.isfinite(model(only_text)).all()


def test_query_choice():
    assert RelationNetwork(IN_DIMS, HIDDEN).query == "audio"  # no name is special: the first in sorted order
    assert RelationNetwork({"image": 4, "question": 5, "audio": 3}, HIDDEN, query="question").query == "question"
    model = RelationNetwork(IN_DIMS, HIDDEN, query="image")
    assert model.query == "image" and model.object_names == ["audio", "text"]
    assert "query='image'" in repr(model)


def test_type_embedding_distinguishes_modalities(make_sample):
    dims = {"audio": 4, "image": 4, "text": 6}
    model = RelationNetwork(dims, HIDDEN, g_layers=2, query="text").eval()
    model.encoders.proj["audio"].load_state_dict(model.encoders.proj["image"].state_dict())
    with torch.no_grad():
        model.type_embedding.normal_()
    s = make_sample(dims=dims, text=2, image=2, audio=1)
    swapped = type(s)(text=s["text"], audio=s["image"], image=s["audio"])
    assert not torch.allclose(model(collate([s])), model(collate([swapped])))
    model.type_embedding.data.zero_()
    torch.testing.assert_close(model(collate([s])), model(collate([swapped])))


def test_needs_two_modalities():
    with pytest.raises(ValueError, match=r"relation.*network.*needs.*2.*modalities.*\['text'\]"):
        RelationNetwork({"text": 6}, HIDDEN)


def test_query_must_be_a_modality():
    match = r"query: expected one of the modalities \['audio', 'image', 'text'\], got 'video'"
    with pytest.raises(ValueError, match=match):
        RelationNetwork(IN_DIMS, HIDDEN, query="video")


@pytest.mark.parametrize("option", ["g_layers", "g_hidden", "f_layers"])
@pytest.mark.parametrize("value", [0, -1, 2.0, True])
def test_bad_layer_options(option, value):
    with pytest.raises(ValueError, match=rf"{option}: expected a positive int, got {value!r}"):
        get_model("rn", in_dims=IN_DIMS, hidden=HIDDEN, **{option: value})


@pytest.mark.parametrize("task,out_dim", [("classification", 3), ("regression", 1), ("embedding", 5)])
def test_output_shape_per_task(batch, task, out_dim):
    model = get_model("rn", in_dims=IN_DIMS, hidden=HIDDEN, out_dim=out_dim, task=task, g_hidden=6).eval()
    out = model(batch)
    assert out.shape == (batch.batch_size, out_dim)
    assert torch.isfinite(out).all()
    if task == "embedding":
        torch.testing.assert_close(out.norm(dim=-1), torch.ones(batch.batch_size))


def test_reset_parameters_reinitialises_everything(batch):
    model = RelationNetwork(IN_DIMS, HIDDEN, out_dim=2, query="text").eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.reset_parameters()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    weights = {k for k in before if k.endswith("weight") and "encoders" not in k} | {"type_embedding"}
    assert weights <= changed
    assert torch.isfinite(model(batch)).all()
