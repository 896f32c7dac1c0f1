"""Captioning models: graph and pooled memories, teacher forcing, decoding, pixels through an extractor."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg
from mmgraph.captioning import CaptionModel, caption_loss
from mmgraph.datasets.captions import CAPTION_VOCAB, SceneCaptions, caption_text
from mmgraph.datasets.sort_of_clevr import sort_of_clevr_splits
from mmgraph.nn.extractors import GridCNN

CAPTIONING = mg.list_models("captioning")


@pytest.fixture(scope="module")
def data() -> SceneCaptions:
    return SceneCaptions(sort_of_clevr_splits(1, 1, 4, seed=2)["test"], num_captions=2, facts_per_caption=1, seed=0)


def batch_of(data: SceneCaptions, images: list[int], input: str = "state") -> mg.MultimodalBatch:
    idx = torch.tensor(images)
    mods, raw = data.image_modalities(idx, input)
    return mg.MultimodalBatch(mods, y=data.caption_targets(idx, torch.zeros_like(idx)), raw=raw)


def build(name: str, seed: int = 0, **kwargs: object) -> CaptionModel:
    mg.seed_everything(seed)
    kwargs = {"in_dims": {"objects": 10}, "hidden": 16, "max_len": 14, "out_dim": len(CAPTION_VOCAB), **kwargs}
    return mg.get_model(name, **kwargs).eval()


@pytest.mark.parametrize("decoder", ["gru", "transformer"])
@pytest.mark.parametrize("name", CAPTIONING)
def test_teacher_forcing_and_decoding(name: str, decoder: str, data: SceneCaptions) -> None:
    model = build(name, decoder=decoder)
    batch = batch_of(data, [0, 1, 2])
    logits = model(batch)
    assert logits.shape == (3, batch.y.size(1) - 1, len(CAPTION_VOCAB))
    assert torch.isfinite(caption_loss(logits, batch.y))
    memory, mask = model.memory(batch)
    assert memory.shape == ((3, 6, 16) if name == "caption-graph" else (3, 1, 16))
    tokens = model.generate(batch, beam_size=2)
    assert tokens.shape == (3, 14) and all(isinstance(caption_text(t), str) for t in tokens)
    assert torch.equal(model(batch), build(name, decoder=decoder)(batch))
    assert f"decoder={decoder!r}" in repr(model)


@pytest.mark.parametrize("decoder", ["gru", "transformer"])
@pytest.mark.parametrize("name", CAPTIONING)
def test_learns_to_caption_four_scenes(name: str, decoder: str, data: SceneCaptions) -> None:
    model = build(name, decoder=decoder).train()
    batch = batch_of(data, [0, 1, 2, 3])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(150):
        opt.zero_grad()
        loss = caption_loss(model(batch), batch.y)
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    assert loss.item() < 0.1 * first
    if name == "caption-graph":  # distinct memories per scene: it reproduces each caption
        texts = [caption_text(t) for t in model.eval().generate(batch, beam_size=1)]
        assert texts == [data.captions[i][0].text for i in range(4)]


def test_pixels_through_an_extractor(data: SceneCaptions) -> None:
    cnn = GridCNN(channels=(4, 4, 4, 4))
    model = mg.get_model("caption-graph", in_dims={"image": cnn.out_dim}, hidden=8, out_dim=len(CAPTION_VOCAB),
                         extractors={"image": cnn})
    out = model(batch_of(data, [0, 0, 1], input="pixels"))
    assert out.shape[:2] == (3, data.max_len + 1)


def test_errors(data: SceneCaptions) -> None:
    model = build("caption-graph")
    batch = batch_of(data, [0, 1])
    with pytest.raises(ValueError, match="teacher forcing"):
        model(mg.MultimodalBatch({"objects": batch["objects"]}))
    with pytest.raises(ValueError, match="modality 'objects': expected in the batch"):
        model(mg.MultimodalBatch({"other": batch["objects"]}, y=batch.y))
    with pytest.raises(ValueError, match="needs element positions"):
        model(mg.MultimodalBatch({"objects": mg.ModalityBatch(batch["objects"].x)}, y=batch.y))
    with pytest.raises(ValueError, match=r"caption-pooled.*unknown option.*\['task'\]"):  # its task is fixed
        mg.get_model("caption-pooled", in_dims={"objects": 10}, out_dim=5, task="classification")
    with pytest.raises(ValueError, match="distance_prior:.*graph=True.*2 target heads.*graph=False"):
        build("caption-pooled", distance_prior=10.0)
    with pytest.raises(ValueError, match="distance_prior:.*2 target heads.*select_heads=2, source_heads=1"):
        build("caption-graph", select_heads=2, source_heads=1)
    with pytest.raises(ValueError, match="distance_prior:.*2 target heads.*select_heads=4, source_heads=3"):
        build("caption-graph", source_heads=3)
    with pytest.raises(ValueError, match=r"source_heads: expected an int from 0 to .* \(2\), got 3"):
        build("caption-graph", select_heads=2, source_heads=3, distance_prior=0.0)
    with pytest.raises(ValueError, match=r"y:.*max_len.*\+.*1.*="):
        build("caption-graph", max_len=5)(batch)
    with pytest.raises(ValueError, match="decoder:.*'gru'.*'transformer'.*'lstm'"):
        build("caption-graph", decoder="lstm")
    with pytest.raises(ValueError, match="image modality only"):
        mg.get_model("caption-pooled", in_dims={"objects": 10, "caption": 3}, out_dim=5)
    with pytest.raises(ValueError, match="out_dim: expected the vocabulary size"):
        mg.get_model("caption-pooled", in_dims={"objects": 10})


def test_distance_prior_starts_every_relational_layer_on_closest_and_furthest() -> None:
    from mmgraph.nn.conv import HeteroRelationalConv

    def scores(model):  # each layer's v (score_edge bias) of the image graph's one edge type, as RelationalConv has it
        convs = [m for m in model.modules() if isinstance(m, HeteroRelationalConv)]
        return [c.per_type(("elements", "intra", "elements")).score_edge.bias.detach().view(2, 3) for c in convs]

    expected = torch.tensor([[0.0, 0.0, -20.0], [0.0, 0.0, 20.0]])  # edge_attr = [dx, dy, distance]
    found = scores(build("caption-graph", select_heads=2, source_heads=0, distance_prior=20.0))
    assert len(found) == 2  # num_layers
    for bias in found:
        torch.testing.assert_close(bias, expected)
    assert all(not torch.equal(b, expected)
               for b in scores(build("caption-graph", select_heads=2, source_heads=0, distance_prior=0.0)))


def test_registered_graph_setup() -> None:
    """The registered caption-graph: 2 target + 2 source heads, prior 100 on both pairs, gates closed."""
    from mmgraph.nn.conv import HeteroRelationalConv

    assert dict(mg.captioning.CAPTION_GRAPH_DEFAULTS) == {"select_heads": 4, "source_heads": 2,
                                                          "distance_prior": 100.0, "gate_init": -10.0}
    model = build("caption-graph")
    assert (model.distance_prior, model.gate_init) == (100.0, -10.0)
    convs = [m for m in model.modules() if isinstance(m, HeteroRelationalConv)]
    assert len(convs) == 2
    for conv in convs:
        per_type = conv.per_type(("elements", "intra", "elements"))
        assert (per_type.heads, per_type.source_heads) == (4, 2)
        torch.testing.assert_close(per_type.score_edge.bias.detach().view(4, 3)[:, 2],
                                   torch.tensor([-100.0, 100.0, -100.0, 100.0]))
        assert torch.equal(per_type.gate.weight, torch.zeros_like(per_type.gate.weight))
        assert per_type.gate.bias.item() == -10.0
    plain = build("caption-graph", select_heads=2, source_heads=0, distance_prior=0.0, gate_init=None)
    assert plain.gate_init is None and plain.distance_prior == 0.0
    gate = [m for m in plain.modules() if isinstance(m, HeteroRelationalConv)][0].per_type(
        ("elements", "intra", "elements")).gate
    assert gate.weight.abs().sum() > 0  # the layers' own initialisation
    assert build("caption-pooled").gate_init is None  # no graph, no gates


def test_gate_init_needs_the_graph() -> None:
    with pytest.raises(ValueError, match="gate_init: needs graph=True.*got graph=False"):
        CaptionModel(10, len(CAPTION_VOCAB), 16, graph=False, gate_init=-10.0)
    with pytest.raises(ValueError, match="init_gates: expected a finite number.*got nan"):
        build("caption-graph", gate_init=float("nan"))


def test_distance_prior_also_starts_the_source_heads() -> None:
    """With source heads, the first two target heads and the first two source heads start on closest / furthest."""
    from mmgraph.nn.conv import HeteroRelationalConv

    model = build("caption-graph", hidden=20, select_heads=5, source_heads=2, distance_prior=10.0, gate_init=None)
    convs = [m for m in model.modules() if isinstance(m, HeteroRelationalConv)]
    assert len(convs) == 2 and all(c.source_heads == 2 for c in convs)
    for conv in convs:
        bias = conv.per_type(("elements", "intra", "elements")).score_edge.bias.detach().view(5, 3)
        torch.testing.assert_close(bias[[0, 1, 3, 4], 2], torch.tensor([-10.0, 10.0, -10.0, 10.0]))
        torch.testing.assert_close(bias[[0, 1, 3, 4], :2], torch.zeros(4, 2))
        assert bias[2, 2] != -10.0 and bias[2, 2] != 10.0  # the third target head keeps its random start
