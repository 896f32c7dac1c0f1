"""Tests for mmgraph.graph.builder.GraphBuilder: node/edge stores, reverse and fusion edges, schema,
errors, and the key property builder.batch(collate(s)) == Batch.from_data_list([builder(x) for x in s])."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, HeteroData

import mmgraph as mg
from mmgraph.graph import CROSS, FUSE, FUSION, INTRA

E = mg.edges


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def _pairs(store):
    return [tuple(e) for e in store.edge_index.t().tolist()]


def assert_graphs_equal(a: HeteroData, b: HeteroData) -> None:
    """Same node/edge types, same keys in every store, equal tensors (dtype included)."""
    assert sorted(a.node_types) == sorted(b.node_types)
    assert sorted(a.edge_types) == sorted(b.edge_types)
    for t in a.node_types + a.edge_types:
        sa, sb = a[t], b[t]
        assert set(sa.keys()) == set(sb.keys()), t
        for key in sa.keys():
            va, vb = sa[key], sb[key]
            assert isinstance(va, torch.Tensor) and isinstance(vb, torch.Tensor), (t, key)
            assert va.dtype == vb.dtype, (t, key)
            assert torch.equal(va, vb), (t, key)


def _random_sample(g: torch.Generator, lengths: dict[str, int], y: int) -> mg.MultimodalSample:
    """text: timed (spans on a 0.25 grid, some instants); image: 2-D positions; video: pos + time stamps."""
    mods = {}
    if lengths.get("text"):
        n = lengths["text"]
        start = torch.randint(0, 12, (n,), generator=g).float().sort().values * 0.25
        dur = torch.tensor([0.0, 0.25, 0.5, 1.0])[torch.randint(0, 4, (n,), generator=g)]
        mods["text"] = mg.Modality(torch.randn(n, 4, generator=g), time=torch.stack([start, start + dur], 1),
                                   labels=[f"tok{i}" for i in range(n)])
    if lengths.get("image"):
        n = lengths["image"]
        mods["image"] = mg.Modality(torch.randn(n, 4, generator=g), pos=torch.rand(n, 2, generator=g))
    if lengths.get("video"):
        n = lengths["video"]
        mods["video"] = mg.Modality(torch.randn(n, 4, generator=g), pos=torch.rand(n, 2, generator=g),
                                    time=torch.rand(n, generator=g) * 3)
    return mg.MultimodalSample(mods, y=y)


def _random_samples(seed: int, count: int = 4) -> list[mg.MultimodalSample]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(count):
        lengths = {m: int(torch.randint(1, 7, (1,), generator=g)) for m in ("text", "image", "video")}
        out.append(_random_sample(g, lengths, y=i % 3))
    return out


CONFIGS = {
    "rich": lambda: mg.GraphBuilder(
        intra={"text": E.Sequential(2), "image": E.SpatialKNN(k=3), "video": E.FeatureKNN(k=2)},
        cross={("text", "image"): E.Full(), ("text", "video"): E.TemporalOverlap()},
        fusion_node=True,
    ),
    "feature-knn": lambda: mg.GraphBuilder(
        intra={"image": E.FeatureKNN(k=1), "text": E.FeatureKNN(k=3)},
        cross={("image", "text"): E.FeatureKNN(k=2), ("video", "image"): E.FeatureKNN(k=4)},
    ),
    "spatial-temporal": lambda: mg.GraphBuilder(
        intra={"text": E.TemporalOverlap(tolerance=0.25), "video": E.SpatialKNN(k=2)},
        cross={("image", "video"): E.SpatialKNN(k=2), ("video", "text"): E.TemporalOverlap()},
        fusion_node=True,
    ),
    "attributes": lambda: mg.GraphBuilder(
        intra={"image": E.Full(attr="pos"), "text": E.Full(attr="time")},
        cross={("video", "image"): E.Full(attr="pos"), ("text", "video"): E.Full(attr="time")},
        fusion_node=True,
    ),
    "complete": lambda: mg.GraphBuilder.complete(["text", "image", "video"]),
    "fusion-only": lambda: mg.GraphBuilder(fusion_node=True),
    "nothing": lambda: mg.GraphBuilder(),
}


# --------------------------------------------------------------------------------------
# The key property: vectorised batching equals PyG batching of per-sample graphs
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_batch_equals_from_data_list(config, seed):
    builder = CONFIGS[config]()
    samples = _random_samples(seed)
    graphs = [builder(s) for s in samples]
    batched = builder.batch(mg.collate(samples))
    reference = Batch.from_data_list(graphs)
    assert batched.num_graphs == len(samples)
    assert_graphs_equal(batched, reference)
    for i, graph in enumerate(graphs):
        assert_graphs_equal(batched.get_example(i), graph)
    for got, graph in zip(batched.to_data_list(), graphs):
        assert_graphs_equal(got, graph)


def test_batch_accepts_a_list_of_samples():
    builder = CONFIGS["rich"]()
    samples = _random_samples(5)
    assert_graphs_equal(builder.batch(samples), builder.batch(mg.collate(samples)))
    assert_graphs_equal(builder.batch(tuple(samples)), builder.batch(mg.collate(samples)))


def test_batch_with_a_sample_lacking_a_modality():
    builder = CONFIGS["rich"]()
    g = torch.Generator().manual_seed(7)
    samples = [
        _random_sample(g, {"text": 3, "image": 2, "video": 2}, y=0),
        _random_sample(g, {"text": 2, "video": 3}, y=1),  # no image
        _random_sample(g, {"text": 1, "image": 4, "video": 1}, y=2),
    ]
    batched = builder.batch(samples)
    assert batched["image"].x.size(0) == 6
    assert batched["image"].batch.tolist() == [0, 0, 2, 2, 2, 2]
    assert batched["image"].ptr.tolist() == [0, 2, 2, 6]
    assert batched[FUSION].x.shape == (3, 0)
    # the missing modality's nodes and edges are empty in example 1; everything else matches builder(sample)
    ex = batched.get_example(1)
    alone = builder(samples[1])
    assert ex["image"].x.shape == (0, 4) and ex["image"].pos.shape == (0, 2)
    image_types = [t for t in ex.edge_types if "image" in (t[0], t[2])]
    assert sorted(image_types) == sorted([("image", INTRA, "image"), ("text", CROSS, "image"), ("image", CROSS, "text"),
                                          ("image", FUSE, FUSION), (FUSION, FUSE, "image")])
    for t in image_types:
        assert ex[t].edge_index.shape == (2, 0), t
    for t in alone.node_types + alone.edge_types:
        for key in alone[t].keys():
            assert torch.equal(ex[t][key], alone[t][key]), (t, key)
    for i in (0, 2):
        assert_graphs_equal(batched.get_example(i), builder(samples[i]))


# --------------------------------------------------------------------------------------
# One graph: node stores, edges, reverse edges, fusion node
# --------------------------------------------------------------------------------------
def test_node_stores_carry_x_pos_time():
    builder = mg.GraphBuilder()
    sample = _random_samples(0, count=1)[0]
    graph = builder(sample)
    assert isinstance(graph, HeteroData)
    assert sorted(graph.node_types) == ["image", "text", "video"]
    assert set(graph["text"].keys()) == {"x", "time"}
    assert set(graph["image"].keys()) == {"x", "pos"}
    assert set(graph["video"].keys()) == {"x", "pos", "time"}
    for name in ("text", "image", "video"):
        m = sample[name]
        assert torch.equal(graph[name].x, m.x)
        assert graph[name].num_nodes == m.num_elements
        for key in ("pos", "time"):
            if getattr(m, key) is not None:
                assert torch.equal(graph[name][key], getattr(m, key))
    assert graph.edge_types == []


def test_docstring_example():
    builder = mg.GraphBuilder(intra={"text": E.Sequential(1)}, cross={("text", "image"): E.Full()}, fusion_node=True)
    graph = builder(mg.MultimodalSample(text=torch.randn(3, 8), image=torch.randn(2, 8)))
    assert graph["text", "intra", "text"].edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    assert graph["text", "cross", "image"].num_edges == 6 and graph["image", "cross", "text"].num_edges == 6


@pytest.mark.parametrize(
    "strategy",
    [E.Full(), E.Full(attr="pos"), E.Full(attr="time"), E.SpatialKNN(k=2), E.FeatureKNN(k=2), E.TemporalOverlap(0.5)],
    ids=repr,
)
def test_cross_edges_have_reversed_reverse_edges(strategy):
    builder = mg.GraphBuilder(cross={("video", "image"): strategy})
    if "time" in strategy.requires:  # image has no time: use text as the second modality
        builder = mg.GraphBuilder(cross={("video", "text"): strategy})
    sample = _random_samples(3, count=1)[0]
    graph = builder(sample)
    a, b = next(iter(builder.cross))
    fwd, rev = graph[a, CROSS, b], graph[b, CROSS, a]
    assert fwd.num_edges > 0
    fwd_pairs = _pairs(fwd)
    rev_pairs = _pairs(rev)
    assert sorted((j, i) for i, j in fwd_pairs) == rev_pairs  # reverse edges are sorted by their own source
    if strategy.edge_dim == 0:
        assert "edge_attr" not in fwd and "edge_attr" not in rev
        return
    fwd_attr = {p: fwd.edge_attr[k] for k, p in enumerate(fwd_pairs)}
    for k, (j, i) in enumerate(rev_pairs):
        f, r = fwd_attr[(i, j)], rev.edge_attr[k]
        if isinstance(strategy, E.FeatureKNN):  # cosine: symmetric
            assert torch.allclose(r, f)
        elif "pos" in strategy.requires:  # [delta, distance]: delta flips, distance stays
            assert torch.equal(r[:-1], -f[:-1]) and torch.allclose(r[-1], f[-1])
        else:  # [centre offset, IoU]: offset flips, IoU stays
            assert torch.equal(r[0], -f[0]) and torch.allclose(r[1], f[1])


def test_fusion_node_links_every_node_both_ways():
    builder = mg.GraphBuilder(intra={"text": E.Full()}, fusion_node=True)
    graph = builder(mg.MultimodalSample(text=torch.ones(3, 2), image=torch.ones(2, 5)))
    assert graph.node_types.count(FUSION) == 1
    assert graph[FUSION].x.shape == (1, 0) and graph[FUSION].num_nodes == 1
    assert graph["text", FUSE, FUSION].edge_index.tolist() == [[0, 1, 2], [0, 0, 0]]
    assert graph[FUSION, FUSE, "text"].edge_index.tolist() == [[0, 0, 0], [0, 1, 2]]
    assert graph["image", FUSE, FUSION].edge_index.tolist() == [[0, 1], [0, 0]]
    assert graph[FUSION, FUSE, "image"].edge_index.tolist() == [[0, 0], [0, 1]]
    assert "edge_attr" not in graph["text", FUSE, FUSION]


def test_batched_fusion_edges_point_to_each_samples_own_fusion_node():
    builder = mg.GraphBuilder(fusion_node=True)
    batched = builder.batch([mg.MultimodalSample(text=torch.ones(n, 2)) for n in (2, 1, 3)])
    assert batched[FUSION].x.shape == (3, 0)
    assert batched[FUSION].batch.tolist() == [0, 1, 2]
    assert batched["text", FUSE, FUSION].edge_index.tolist() == [[0, 1, 2, 3, 4, 5], [0, 0, 1, 2, 2, 2]]
    assert batched[FUSION, FUSE, "text"].edge_index.tolist() == [[0, 0, 1, 2, 2, 2], [0, 1, 2, 3, 4, 5]]


def test_unconfigured_modality_becomes_isolated_nodes():
    builder = mg.GraphBuilder(intra={"text": E.Sequential()})
    graph = builder(mg.MultimodalSample(text=torch.ones(2, 1), audio=torch.ones(3, 1)))
    assert graph["audio"].num_nodes == 3
    assert graph.edge_types == [("text", INTRA, "text")]


def test_configured_modality_absent_from_sample_is_skipped():
    builder = mg.GraphBuilder(intra={"image": E.Full()}, cross={("text", "image"): E.Full()})
    graph = builder(mg.MultimodalSample(text=torch.ones(2, 1)))
    assert graph.node_types == ["text"] and graph.edge_types == []


# --------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------
def test_edge_types_schema():
    builder = CONFIGS["rich"]()
    schema = builder.edge_types(["video", "text", "image"])
    assert list(schema.items()) == [
        (("image", INTRA, "image"), 3),
        (("text", INTRA, "text"), 1),
        (("video", INTRA, "video"), 1),
        (("text", CROSS, "image"), 0),
        (("image", CROSS, "text"), 0),
        (("text", CROSS, "video"), 2),
        (("video", CROSS, "text"), 2),
        (("image", FUSE, FUSION), 0),
        ((FUSION, FUSE, "image"), 0),
        (("text", FUSE, FUSION), 0),
        ((FUSION, FUSE, "text"), 0),
        (("video", FUSE, FUSION), 0),
        ((FUSION, FUSE, "video"), 0),
    ]
    assert list(builder.edge_types(["text"])) == [
        ("text", INTRA, "text"), ("text", FUSE, FUSION), (FUSION, FUSE, "text")
    ]
    assert builder.node_types(["video", "text", "image", "text"]) == ["image", "text", "video", FUSION]
    assert mg.GraphBuilder().node_types(["b", "a"]) == ["a", "b"]
    assert mg.GraphBuilder().edge_types(["a", "b"]) == {}


@pytest.mark.parametrize("config", list(CONFIGS))
def test_schema_matches_built_graph(config):
    builder = CONFIGS[config]()
    sample = _random_samples(4, count=1)[0]
    graph = builder(sample)
    schema = builder.edge_types(sample.modalities)
    assert sorted(graph.edge_types) == sorted(schema)
    assert sorted(graph.node_types) == sorted(builder.node_types(sample.modalities))
    for etype, dim in schema.items():
        store = graph[etype]
        if dim == 0:
            assert "edge_attr" not in store, etype
        else:
            assert store.edge_attr.shape == (store.num_edges, dim), etype


def test_complete():
    builder = mg.GraphBuilder.complete(["text", "image", "text"])
    assert builder.fusion_node is True
    assert list(builder.intra) == ["image", "text"]
    assert list(builder.cross) == [("image", "text")]
    assert all(isinstance(s, E.Full) and s.attr is None for s in [*builder.intra.values(), *builder.cross.values()])
    graph = builder(mg.MultimodalSample(text=torch.ones(3, 2), image=torch.ones(2, 2)))
    assert graph["text", INTRA, "text"].num_edges == 6
    assert graph["image", INTRA, "image"].num_edges == 2
    assert graph["image", CROSS, "text"].num_edges == 6 and graph["text", CROSS, "image"].num_edges == 6
    assert graph["text", FUSE, FUSION].num_edges == 3
    assert mg.GraphBuilder.complete(["a", "b", "c"], fusion_node=False).fusion_node is False
    assert list(mg.GraphBuilder.complete(["c", "a", "b"]).cross) == [("a", "b"), ("a", "c"), ("b", "c")]


def test_repr():
    builder = mg.GraphBuilder(intra={"text": E.Sequential(2)}, cross={("text", "image"): E.Full()}, fusion_node=True)
    assert repr(builder) == (
        "GraphBuilder(intra={'text': Sequential(window=2)}, cross={('text', 'image'): Full()}, fusion_node=True)"
    )
    assert repr(mg.GraphBuilder()) == "GraphBuilder()"


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cross": {("text", "image"): E.Sequential(1)}},
         r"^cross\[\('text', 'image'\)\]: Sequential\(window=1\) links elements of one modality; use it in intra$"),
        ({"cross": {("text", "image"): E.Full(), ("image", "text"): E.FeatureKNN(2)}},
         r"^cross: both \('text', 'image'\) and \('image', 'text'\) given; one pair already links both directions$"),
        ({"intra": {"text": "full"}},
         r"^intra\['text'\]: expected an edge strategy such as mg\.edges\.Full\(\), got str$"),
        ({"intra": {"text": E.Full}},
         r"^intra\['text'\]: expected an edge strategy such as mg\.edges\.Full\(\), got type$"),
        ({"cross": {("text", "image"): None}},
         r"^cross\[\('text', 'image'\)\]: expected an edge strategy such as mg\.edges\.Full\(\), got NoneType$"),
        ({"cross": {("text", "text"): E.Full()}},
         r"^cross\[\('text', 'text'\)\]: a cross-modal pair needs two different modalities; use intra\['text'\]$"),
        ({"cross": {"text": E.Full()}}, r"^cross: keys must be \(modality_a, modality_b\) tuples, got 'text'$"),
        ({"cross": {("a", "b", "c"): E.Full()}},
         r"^cross: keys must be \(modality_a, modality_b\) tuples, got \('a', 'b', 'c'\)$"),
        ({"intra": {"fusion": E.Full()}}, r"^modality name 'fusion' is reserved"),
        ({"cross": {("text", "fusion"): E.Full()}}, r"^modality name 'fusion' is reserved"),
        ({"intra": {"bad name": E.Full()}}, r"^modality names must be Python identifiers .*, got 'bad name'$"),
    ],
    ids=["sequential-cross", "both-orders", "str", "class", "none", "same-modality", "key-str", "key-triple",
         "reserved-intra", "reserved-cross", "bad-name"],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mg.GraphBuilder(**kwargs)


@pytest.mark.parametrize(
    "builder, match",
    [
        (mg.GraphBuilder(intra={"text": E.SpatialKNN(k=2)}),
         r"^SpatialKNN\(k=2\) on \('text', 'text'\) needs pos for modality 'text', which has none"),
        (mg.GraphBuilder(cross={("image", "text"): E.Full(attr="pos")}),
         r"^Full\(attr='pos'\) on \('image', 'text'\) needs pos for modality 'text', which has none"),
        (mg.GraphBuilder(intra={"image": E.TemporalOverlap()}),
         r"^TemporalOverlap\(\) on \('image', 'image'\) needs time for modality 'image', which has none"),
        (mg.GraphBuilder(cross={("image", "text"): E.TemporalOverlap()}),
         r"^TemporalOverlap\(\) on \('image', 'text'\) needs time for modality 'image', which has none"),
        (mg.GraphBuilder(intra={"video": E.SpatialKNN(k=1, pos_dim=3)}),
         r"^SpatialKNN\(k=1, pos_dim=3\) expects pos of dimension 3 for modality 'video', got 2; pass pos_dim=2$"),
        (mg.GraphBuilder(cross={("text", "image"): E.FeatureKNN(k=1)}),
         r"^FeatureKNN\(k=1\) compares features of 'text' and 'image', which need the same dimension; got 4 and 3$"),
    ],
    ids=["spatial-no-pos", "full-pos-no-pos", "temporal-no-time", "temporal-cross-no-time", "pos-dim", "feature-dim"],
)
def test_build_errors_name_modality_and_strategy(builder, match):
    g = torch.Generator().manual_seed(0)
    sample = mg.MultimodalSample(
        text=mg.Modality(torch.randn(2, 4, generator=g), time=[0.0, 1.0]),
        image=mg.Modality(torch.randn(3, 3, generator=g), pos=torch.rand(3, 2, generator=g)),
        video=mg.Modality(torch.randn(2, 4, generator=g), pos=torch.rand(2, 2, generator=g)),
    )
    with pytest.raises(ValueError, match=match):
        builder(sample)
    with pytest.raises(ValueError, match=match):
        builder.batch([sample, sample])


def test_call_and_batch_reject_wrong_types():
    builder = mg.GraphBuilder()
    with pytest.raises(ValueError, match=r"^GraphBuilder: expected a MultimodalSample, got dict$"):
        builder({"text": torch.ones(1, 1)})
    with pytest.raises(ValueError, match=r"^GraphBuilder: expected a MultimodalSample, got MultimodalBatch$"):
        builder(mg.collate([mg.MultimodalSample(text=torch.ones(1, 1))]))
    with pytest.raises(ValueError, match=r"^GraphBuilder\.batch: expected a MultimodalBatch, got dict$"):
        builder.batch({"text": torch.ones(1, 1)})
