"""Graph models on graphs built in the loader: same outputs, and no host-device synchronisation in a step."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import DataLoader

import mmgraph as mg
from mmgraph.nn.conv.typed import TypedConv

GRAPH_MODELS = [name for name in mg.list_models() if name.startswith("graph-")]
SYNCS = ("aten::item", "aten::_local_scalar_dense", "aten::nonzero")
IN_DIMS = {"text": 6, "image": 5, "audio": 3}


def _sample(n_text: int, n_image: int, n_audio: int, seed: int) -> mg.MultimodalSample:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n_text, dtype=torch.float)
    a = torch.arange(n_audio, dtype=torch.float) * 0.7
    mods = {
        "text": mg.Modality(torch.randn(n_text, 6, generator=g), time=torch.stack([t, t + 1], 1)),
        "image": mg.Modality(torch.randn(n_image, 5, generator=g), pos=torch.rand(n_image, 2, generator=g)),
    }
    if n_audio:
        mods["audio"] = mg.Modality(torch.randn(n_audio, 3, generator=g), time=torch.stack([a, a + 0.7], 1))
    return mg.MultimodalSample(mods, y=torch.tensor(seed % 3))


SAMPLES = [_sample(4, 6, 5, 0), _sample(3, 9, 0, 1), _sample(5, 2, 7, 2), _sample(1, 1, 2, 3)]
BUILDER = mg.GraphBuilder(
    intra={"text": mg.edges.Sequential(2), "image": mg.edges.SpatialKNN(3), "audio": mg.edges.Sequential(1)},
    cross={("text", "image"): mg.edges.Full(), ("text", "audio"): mg.edges.TemporalOverlap()},
    fusion_node=True,
)


def _model(name: str, seed: int = 0) -> mg.nn.GraphFusionModel:
    torch.manual_seed(seed)
    kw = {"condition": "text"} if name == "graph-relational" else {}
    return mg.get_model(name, in_dims=IN_DIMS, hidden=16, out_dim=3, builder=BUILDER, **kw)


def _syncs(model, batch) -> dict[str, int]:
    model.zero_grad(set_to_none=True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        F.cross_entropy(model(batch), batch.y).backward()
    counts = Counter(e.name for e in prof.events())
    return {name: counts[name] for name in SYNCS}


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_a_training_step_on_a_prebuilt_graph_never_waits_for_the_device(name: str) -> None:
    """``.item()``, ``nonzero`` and ``int(tensor)`` each stall a GPU's queue; a step on a prebuilt graph has none."""
    model = _model(name)
    batch = model.collate_fn()(SAMPLES)
    F.cross_entropy(model(batch), batch.y).backward()  # warm-up
    assert _syncs(model, batch) == {name: 0 for name in SYNCS}
    assert sum(_syncs(model, mg.collate(SAMPLES)).values()) > 0  # building the graph in forward does sync


@pytest.mark.parametrize("name", GRAPH_MODELS)
@pytest.mark.parametrize("plan", ["packed", "padded"])
def test_prebuilt_graphs_give_the_outputs_of_graphs_built_in_forward(name: str, plan: str, monkeypatch) -> None:
    monkeypatch.setattr(TypedConv, "padding_limit", 0.0 if plan == "packed" else float("inf"))
    model = _model(name).eval()
    plain = mg.collate(SAMPLES)
    prebuilt = model.collate_fn()(SAMPLES)
    assert prebuilt.graph is not None and prebuilt.graph.prepared is not None
    unprepared = mg.GraphCollate(BUILDER, IN_DIMS)(SAMPLES)  # graph built, GNN preparation left to forward
    with torch.no_grad():
        want = model(plain)
        torch.testing.assert_close(model(prebuilt), want)
        torch.testing.assert_close(model(unprepared), want)
        assert prebuilt.graph.layout.num_edges == model.graph(plain).num_edges


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_packed_and_padded_tables_agree(name: str, monkeypatch) -> None:
    model = _model(name).eval()
    batch = mg.collate(SAMPLES)
    outs = []
    for limit in (0.0, float("inf")):
        monkeypatch.setattr(TypedConv, "padding_limit", limit)
        with torch.no_grad():
            outs.append(model(batch, return_attention=True))
    torch.testing.assert_close(outs[0].out, outs[1].out)
    for layer_a, layer_b in zip(outs[0].attention, outs[1].attention):
        for et in layer_a:
            torch.testing.assert_close(layer_a[et].weight, layer_b[et].weight)


def test_a_dataloader_builds_graphs_in_worker_processes() -> None:
    model = _model("graph-gat")
    loader = DataLoader(SAMPLES * 3, batch_size=4, collate_fn=model.collate_fn(), num_workers=2)
    batches = list(loader)
    assert len(batches) == 3 and all(b.graph is not None and b.graph.prepared is not None for b in batches)
    result = mg.train.fit(model, loader, batches[:1], epochs=1, progress=False)
    assert result.epochs_run == 1


def test_a_batch_lacking_a_modality_still_uses_its_prebuilt_graph() -> None:
    model = _model("graph-relational").eval()
    samples = [_sample(3, 4, 0, 5), _sample(2, 2, 0, 6)]  # no audio anywhere
    narrow = mg.GraphCollate(BUILDER)(samples)  # laid out over the batch's own modalities
    with torch.no_grad():
        torch.testing.assert_close(model(narrow), model(mg.collate(samples)))
        torch.testing.assert_close(model(model.collate_fn()(samples)), model(mg.collate(samples)))


def test_a_graph_from_another_builder_is_refused_by_name() -> None:
    model = _model("graph-gat")
    other = mg.GraphBuilder(intra={"text": mg.edges.Sequential(1)}, fusion_node=True)
    batch = mg.GraphCollate(other)(SAMPLES)
    with pytest.raises(ValueError, match=r"batch.graph was built by GraphBuilder\(intra=\{'text': Sequential"):
        model(batch)


def test_changing_the_samples_drops_the_graph_and_moving_keeps_it() -> None:
    batch = mg.GraphCollate(BUILDER)(SAMPLES)
    assert batch.select(torch.tensor([0, 2])).graph is None
    assert batch.without("audio").graph is None
    moved = batch.to("cpu", dtype=torch.float64)
    assert moved.graph is not None and moved.graph.data["text"].x.dtype == torch.float64
    assert moved.graph.layout.edge_index.dtype == torch.long


def test_graph_collate_errors() -> None:
    with pytest.raises(ValueError, match="builder: expected a mmgraph.GraphBuilder, got str"):
        mg.GraphCollate("nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"modalities.*\['audio'\].*outside.*\['image'.*'text'\]"):
        mg.GraphCollate(BUILDER, ["text", "image"])(SAMPLES)
    with pytest.raises(ValueError, match="prepare: expected a GNN"):
        mg.GraphCollate(BUILDER, prepare=object())
    with pytest.raises(ValueError, match=r"graph:.*4.*\(the.*size\).*2"):
        mg.GraphCollate(BUILDER)(SAMPLES[:2]).graph and mg.collate(SAMPLES).with_graph(
            mg.GraphCollate(BUILDER)(SAMPLES[:2]).graph)
