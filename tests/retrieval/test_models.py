"""Retrieval models: the InfoNCE loss, dual encoders and re-rankers (a contract over the retrieval family)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import mmgraph as mg
from mmgraph.datasets.captions import SceneCaptions
from mmgraph.datasets.sort_of_clevr import sort_of_clevr_splits
from mmgraph.retrieval import DualEncoder, info_nce

RETRIEVAL = mg.list_models("retrieval")


@pytest.fixture(scope="module")
def data() -> SceneCaptions:
    return SceneCaptions(sort_of_clevr_splits(1, 1, 4, seed=3)["test"], num_captions=2, facts_per_caption=2, seed=0)


def batch_of(data: SceneCaptions, images: list[int], k: int = 0) -> mg.MultimodalBatch:
    idx = torch.tensor(images)
    return data.pair_batch(idx, data.tokens[idx, k], data.lengths[idx, k], y=idx)


def build(name: str, data: SceneCaptions, seed: int = 0) -> torch.nn.Module:
    mg.seed_everything(seed)
    dual = name.startswith("dual")
    return mg.get_model(name, in_dims={"objects": 10, "caption": data.text_dim}, hidden=16,
                        out_dim=8 if dual else 2).eval()


def test_family_lists_the_four_models() -> None:
    assert RETRIEVAL == ["dual-graph", "dual-pooled", "rerank-attention", "rerank-graph"]
    assert not set(RETRIEVAL) & set(mg.list_models())  # not in the fusion contract
    assert mg.registry.model_family("dual-graph") == "retrieval"
    with pytest.raises(ValueError, match="kind: expected one of"):
        mg.list_models("nope")


def test_info_nce_matches_cross_entropy_and_masks_same_image() -> None:
    g = torch.Generator().manual_seed(0)
    out = F.normalize(torch.randn(5, 2, 4, generator=g), dim=-1)
    y = torch.arange(5)
    logits = out[:, 0] @ out[:, 1].T / 0.05
    expected = 0.5 * (F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y))
    torch.testing.assert_close(info_nce(out, y), expected)
    same = torch.tensor([0, 0, 1, 2, 3])  # pairs 0 and 1 show the same image: not negatives of each other
    lone = info_nce(out, same)
    assert torch.isfinite(lone) and not torch.allclose(lone, expected)
    perfect = torch.eye(4).unsqueeze(1).expand(4, 2, 4)
    assert info_nce(perfect, torch.arange(4)) < 1e-3
    with pytest.raises(ValueError, match=r"expected.*embeddings.*\(B.*2.*D\)"):
        info_nce(out[:, 0], y)
    with pytest.raises(ValueError, match="one image id per pair"):
        info_nce(out, y[:3])


@pytest.mark.parametrize("name", RETRIEVAL)
def test_output_shape_and_determinism(name: str, data: SceneCaptions) -> None:
    batch = batch_of(data, [0, 1, 2, 3])
    out = build(name, data)(batch)
    if name.startswith("dual"):
        assert out.shape == (4, 2, 8)
        torch.testing.assert_close(out.norm(dim=-1), torch.ones(4, 2))
    else:
        assert out.shape == (4, 2)
    assert torch.equal(out, build(name, data)(batch)) and not torch.allclose(out, build(name, data, seed=1)(batch))


@pytest.mark.parametrize("name", RETRIEVAL)
def test_gradients_reach_both_modalities_not_padding(name: str, data: SceneCaptions) -> None:
    batch = batch_of(data, [0, 1, 2])
    for m in batch.modalities:
        batch[m].x.requires_grad_(True)
    out = build(name, data).train()(batch)
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(0))).sum().backward()  # unit outputs
    for m in batch.modalities:
        grad = batch[m].x.grad
        assert grad[batch[m].mask].abs().sum() > 0, f"no gradient on {m}"
        assert grad[~batch[m].mask].abs().sum() == 0, f"gradient leaked into {m}'s padding"


@pytest.mark.parametrize("name", RETRIEVAL)
def test_output_independent_of_batch_padding(name: str, data: SceneCaptions) -> None:
    model = build(name, data)
    short = min(range(4), key=lambda i: int(data.lengths[i, 0]))
    alone = model(batch_of(data, [short]))
    together = model(batch_of(data, [short, *[i for i in range(4) if i != short]]))[:1]
    torch.testing.assert_close(alone, together, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", RETRIEVAL)
def test_bad_input_is_a_clear_error(name: str, data: SceneCaptions) -> None:
    model = build(name, data)
    batch = batch_of(data, [0, 1])
    with pytest.raises(ValueError, match="modality 'caption'|unknown modality|expected in the batch"):
        model(batch.without("caption"))
    with pytest.raises(ValueError, match="MultimodalBatch"):
        model([batch])
    with pytest.raises(ValueError, match="in_dims with two modalities"):
        mg.get_model(name, in_dims={"objects": 10}, hidden=16)


def test_dual_encoder_towers_see_one_modality_each(data: SceneCaptions) -> None:
    model = build("dual-graph", data)
    assert isinstance(model, DualEncoder)
    a, b = batch_of(data, [0, 1]), batch_of(data, [0, 1], k=1)  # same images, other captions
    torch.testing.assert_close(model.encode_image(a), model.encode_image(b))
    assert not torch.allclose(model.encode_text(a), model.encode_text(b))
    torch.testing.assert_close(model(a)[:, 0], model.encode_image(a.without("caption")))
    with pytest.raises(ValueError, match=r"dual-pooled.*unknown option.*\['task'\]"):  # its task is fixed
        mg.get_model("dual-pooled", in_dims={"objects": 10, "caption": data.text_dim}, task="classification")


VARIANTS = [("rerank-attention", {"local_window": 2}), ("rerank-graph", {"token_edges": "offset"}),
            ("dual-graph", {"token_edges": "onehot"}), ("rerank-graph", {"clauses": True}), ("rerank-graph", {"cross": False}),
            ("rerank-attention", {"clauses": True})]


@pytest.mark.parametrize("name, kwargs", VARIANTS, ids=[f"{n}-{next(iter(k))}" for n, k in VARIANTS])
def test_token_context_options(name: str, kwargs: dict, data: SceneCaptions) -> None:
    dual = name.startswith("dual")
    mg.seed_everything(0)
    model = mg.get_model(name, in_dims={"objects": 10, "caption": data.text_dim}, hidden=16,
                         out_dim=8 if dual else 2, **kwargs).eval()
    short = min(range(4), key=lambda i: int(data.lengths[i, 0]))
    alone = model(batch_of(data, [short]))
    together = model(batch_of(data, [short, *[i for i in range(4) if i != short]]))
    torch.testing.assert_close(alone, together[:1], rtol=1e-4, atol=1e-5)
    assert together.shape == ((4, 2, 8) if dual else (4, 2))


def test_rerank_graph_token_edges_are_onehot_offsets(data: SceneCaptions) -> None:
    model = build("rerank-graph", data)
    strategy = model.builder.intra["caption"]
    assert isinstance(strategy, mg.edges.Sequential) and strategy.attr == "onehot" and strategy.edge_dim == 4
    assert build("dual-graph", data).text_tower.builder.intra["caption"].attr == "offset"


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_attention_local_window_errors(bad: object, data: SceneCaptions) -> None:
    with pytest.raises(ValueError, match=rf"local_window: expected a non-negative int, got {bad!r}"):
        mg.get_model("rerank-attention", in_dims={"objects": 10, "caption": data.text_dim}, hidden=16,
                     local_window=bad)


@pytest.mark.parametrize("name", ["rerank-graph", "dual-graph"])
def test_token_edges_errors(name: str, data: SceneCaptions) -> None:
    with pytest.raises(ValueError, match=rf"{name}: token_edges must be one of \['offset', 'onehot'\], got 'signed'"):
        mg.get_model(name, in_dims={"objects": 10, "caption": data.text_dim}, hidden=16,
                     out_dim=8 if name.startswith("dual") else 2, token_edges="signed")


def test_attention_reranker_repr_shows_local_window(data: SceneCaptions) -> None:
    dims = {"objects": 10, "caption": data.text_dim}
    assert repr(mg.get_model("rerank-attention", in_dims=dims, hidden=16)) == \
        "CrossAttentionReranker('caption' attends to 'objects', hidden=16)"
    assert repr(mg.get_model("rerank-attention", in_dims=dims, hidden=16, local_window=2)) == \
        "CrossAttentionReranker('caption' attends to 'objects', hidden=16, local_window=2)"


def test_rerank_graph_without_token_region_edges(data: SceneCaptions) -> None:
    dims = {"objects": 10, "caption": data.text_dim}
    with_cross = mg.get_model("rerank-graph", in_dims=dims, hidden=16)
    without = mg.get_model("rerank-graph", in_dims=dims, hidden=16, cross=False)
    assert ("caption", "cross", "objects") in with_cross.edge_types
    assert not [et for et in without.edge_types if et[1] == "cross"]
    assert {et for et in without.edge_types if et[1] == "intra"} == {et for et in with_cross.edge_types if et[1] == "intra"}
    inner = mg.get_model("rerank-graph", in_dims=dims, hidden=16, cross=False, clauses=True).inner
    assert not [et for et in inner.edge_types if et[1] == "cross"]
    with pytest.raises(ValueError, match="rerank-graph:.*cross:.*bool.*'no'"):
        mg.get_model("rerank-graph", in_dims=dims, hidden=16, cross="no")


def test_rerank_graph_gate_init(data: SceneCaptions) -> None:
    from mmgraph.nn.conv import HeteroRelationalConv

    dims = {"objects": 10, "caption": data.text_dim}
    for model in (mg.get_model("rerank-graph", in_dims=dims, hidden=16, gate_init=-10.0),
                  mg.get_model("rerank-graph", in_dims=dims, hidden=16, gate_init=-10.0, clauses=True)):
        convs = [m for m in model.modules() if isinstance(m, HeteroRelationalConv)]
        assert len(convs) == 2 and all(c.gate_init == -10.0 for c in convs)
    default = mg.get_model("rerank-graph", in_dims=dims, hidden=16)
    assert all(m.gate_init is None for m in default.modules() if isinstance(m, HeteroRelationalConv))


def test_rerank_graph_heads_and_distance_prior(data: SceneCaptions) -> None:
    """The prior starts the image's edges on closest / furthest, in both heads' directions; the caption's edges keep theirs."""
    from mmgraph.nn.conv import HeteroRelationalConv

    dims = {"objects": 10, "caption": data.text_dim}
    for clauses in (False, True):
        model = mg.get_model("rerank-graph", in_dims=dims, hidden=16, select_heads=4, source_heads=2,
                             distance_prior=30.0, clauses=clauses)
        for graph_model in (m for m in model.modules() if isinstance(m, mg.nn.GraphFusionModel)):
            graph_model.reset_parameters()  # the prior is kept
        convs = [m for m in model.modules() if isinstance(m, HeteroRelationalConv)]
        assert len(convs) == 2
        for conv in convs:
            assert (conv.heads, conv.source_heads) == (4, 2)
            bias = conv.per_type(("objects", "intra", "objects")).score_edge.bias.detach().view(4, 3)
            torch.testing.assert_close(bias[:, 2], torch.tensor([-30.0, 30.0, -30.0, 30.0]))
            tokens = conv.per_type(("caption", "intra", "caption")).score_edge.bias.detach().view(4, -1)
            assert (tokens.abs() < 30).all()
        assert model(batch_of(data, [0, 1])).shape[0] == 2


def test_rerank_graph_distance_prior_needs_two_target_heads(data: SceneCaptions) -> None:
    dims = {"objects": 10, "caption": data.text_dim}
    with pytest.raises(ValueError, match=r"distance_prior: needs at least 2 target heads.*select_heads=1, source_heads=0"):
        mg.get_model("rerank-graph", in_dims=dims, hidden=16, distance_prior=30.0)
    with pytest.raises(ValueError, match=r"distance_prior: needs at least 2 target heads.*select_heads=3, source_heads=2"):
        mg.get_model("rerank-graph", in_dims=dims, hidden=16, select_heads=3, source_heads=2, distance_prior=30.0)
