"""Edge strategies at scale: O(N + E) paths give exactly the dense reference's edges; max_edges refuses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import mmgraph as mg
from mmgraph.data.batch import ModalityBatch
from mmgraph.graph.edges import _knn
from mmgraph.graph.edges.base import stable_topk_mask, valid_pairs


def _reference(strategy, src: ModalityBatch, dst: ModalityBatch, same: bool) -> list[tuple[int, int, int]]:
    """The dense rule each strategy implements, written out on the full (B, Ls, Ld) grid."""
    allowed = valid_pairs(src, dst, same)
    if isinstance(strategy, mg.edges.Full):
        adj = allowed
    elif isinstance(strategy, mg.edges.Sequential):
        idx = torch.arange(src.mask.size(1))
        off = (idx.unsqueeze(1) - idx.unsqueeze(0)).abs()
        adj = allowed & (off >= 1) & (off <= strategy.window)
    elif isinstance(strategy, mg.edges.SpatialKNN):
        dist = torch.cdist(src.pos, dst.pos, compute_mode="donot_use_mm_for_euclid_dist")
        order = torch.sort(dist.masked_fill(~allowed, float("inf")), dim=1, stable=True).indices[:, : strategy.k]
        adj = torch.zeros_like(allowed).scatter_(1, order, True) & allowed
    elif isinstance(strategy, mg.edges.FeatureKNN):
        a, b = F.normalize(src.x, dim=-1), F.normalize(dst.x, dim=-1)
        sim = (a.unsqueeze(2) * b.unsqueeze(1)).sum(-1)
        order = torch.sort(sim.masked_fill(~allowed, float("-inf")), dim=1, descending=True, stable=True)
        adj = torch.zeros_like(allowed).scatter_(1, order.indices[:, : strategy.k], True) & allowed
    elif isinstance(strategy, mg.edges.TemporalOverlap):
        ts, td = src.time.unsqueeze(2), dst.time.unsqueeze(1)
        inter = (ts[..., 1].minimum(td[..., 1]) - ts[..., 0].maximum(td[..., 0])) + strategy.tolerance
        instant = (ts[..., 1] == ts[..., 0]) | (td[..., 1] == td[..., 0])
        adj = allowed & ((inter > 0) | ((inter == 0) & instant))
    else:
        raise AssertionError(strategy)
    return [tuple(e) for e in adj.nonzero().tolist()]


def _edges(strategy, src, dst, same):
    g, i, j = strategy.edges(src, dst, same)
    return [tuple(e) for e in torch.stack([g, i, j], 1).tolist()]


def _batch(lengths, dim=4, grid=False, seed=0, holes=False):
    gen = torch.Generator().manual_seed(seed)
    b, n = len(lengths), max(lengths)
    mask = torch.arange(n).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    if holes:  # masks that are not prefixes: every third position missing
        mask &= torch.arange(n).unsqueeze(0) % 3 != 1
    pos = torch.randint(0, 6, (b, n, 2), generator=gen).float() if grid else torch.rand(b, n, 2, generator=gen)
    x = torch.randint(-1, 2, (b, n, dim), generator=gen).float() if grid else torch.randn(b, n, dim, generator=gen)
    start = torch.rand(b, n, generator=gen) * 10
    if grid:
        start = start.round()
    length = torch.rand(b, n, generator=gen) * torch.rand(b, n, generator=gen).lt(0.2) * 5
    time = torch.stack([start, start + (length.round() if grid else length)], -1)
    return ModalityBatch(x, mask=mask, pos=pos, time=time)


STRATEGIES = [
    mg.edges.Full(), mg.edges.Sequential(window=1), mg.edges.Sequential(window=3),
    mg.edges.SpatialKNN(k=1), mg.edges.SpatialKNN(k=4), mg.edges.FeatureKNN(k=1), mg.edges.FeatureKNN(k=3),
    mg.edges.TemporalOverlap(), mg.edges.TemporalOverlap(tolerance=0.5),
]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=repr)
@pytest.mark.parametrize("grid", [False, True], ids=["random", "ties"])
@pytest.mark.parametrize("holes", [False, True], ids=["prefix", "holes"])
def test_every_path_equals_the_dense_reference(strategy, grid, holes, monkeypatch) -> None:
    src = _batch([37, 5, 0, 60], grid=grid, holes=holes, seed=1)
    dst = _batch([20, 9, 3, 41], grid=grid, holes=holes, seed=2)
    cases = [(src, src, True)] + ([] if strategy.intra_only else [(src, dst, False), (dst, src, False)])
    for a, b, same in cases:
        want = _reference(strategy, a, b, same)
        assert _edges(strategy, a, b, same) == want  # small samples: the dense path
        monkeypatch.setattr(_knn, "DENSE_PAIRS", 0)  # per-sample searches
        monkeypatch.setattr(_knn, "CHUNK_ELEMENTS", 64)  # in many small chunks
        assert _edges(strategy, a, b, same) == want
        monkeypatch.undo()


@pytest.mark.parametrize("same", [True, False])
@pytest.mark.parametrize("k", [1, 3, 50])
def test_kdtree_and_chunked_searches_agree(same, k) -> None:
    gen = torch.Generator().manual_seed(3)
    src = torch.randint(0, 8, (300, 2), generator=gen).float()  # many exact ties
    dst = src if same else torch.randint(0, 8, (200, 2), generator=gen).float()
    chunked = _knn.chunked_search(lambda s, d: torch.cdist(s, d, compute_mode="donot_use_mm_for_euclid_dist"), False)
    i1, j1 = _knn.kdtree_search(src, dst, k, same)
    i2, j2 = chunked(src, dst, k, same)
    assert sorted(zip(i1.tolist(), j1.tolist())) == sorted(zip(i2.tolist(), j2.tolist()))
    assert torch.bincount(j1, minlength=dst.size(0)).eq(min(k, src.size(0) - int(same))).all()


def test_duplicate_positions_exclude_only_self() -> None:
    pos = torch.zeros(1, 400, 2)  # every point at the same place: neighbours are the lowest other indices
    mb = ModalityBatch(torch.ones(1, 400, 1), pos=pos)
    g, i, j = mg.edges.SpatialKNN(k=2).edges(mb, mb, True)
    sources = {t: sorted(i[j == t].tolist()) for t in range(4)}
    assert sources == {0: [1, 2], 1: [0, 2], 2: [0, 1], 3: [0, 1]}
    assert torch.bincount(j).eq(2).all()


@pytest.mark.parametrize(
    "strategy, n",
    [(mg.edges.Sequential(window=2), 200_000), (mg.edges.SpatialKNN(k=8), 100_000),
     (mg.edges.TemporalOverlap(), 100_000)],
    ids=repr,
)
def test_large_samples_build_in_linear_memory(strategy, n) -> None:
    """A dense (N, N) pass at these sizes would need 10-40 GB; the linear paths need a few MB."""
    t = torch.arange(n, dtype=torch.float) * 0.1
    audio = mg.Modality(torch.zeros(n, 1), pos=torch.rand(n, 2), time=torch.stack([t, t + 0.15], 1))
    graph = mg.GraphBuilder(intra={"audio": strategy})(mg.MultimodalSample(audio=audio))
    edge_index = graph["audio", "intra", "audio"].edge_index
    expected = {"Sequential": 2 * (2 * n - 3), "SpatialKNN": 8 * n, "TemporalOverlap": 2 * (n - 1)}
    assert edge_index.size(1) == expected[type(strategy).__name__]


def test_full_refuses_past_max_edges_naming_the_count() -> None:
    sample = mg.MultimodalSample(image=torch.zeros(3000, 1), text=torch.zeros(40, 1))
    builder = mg.GraphBuilder(intra={"image": mg.edges.Full()}, max_edges=1_000_000)
    with pytest.raises(ValueError, match=r"Full\(\).*'image', 'intra', 'image'.*8,997,000 edges.*max_edges=1,000,000"):
        builder(sample)
    cross = mg.GraphBuilder(cross={("text", "image"): mg.edges.Full()}, max_edges=200_000)
    with pytest.raises(ValueError, match=r"240,000 edges.*max_edges=200,000"):
        cross(sample)
    assert mg.GraphBuilder(cross={("text", "image"): mg.edges.Full()}, max_edges=240_000)(sample).num_edges == 240_000


def test_max_edges_counts_every_edge_type_of_a_call() -> None:
    sample = mg.MultimodalSample(text=torch.zeros(10, 1), audio=torch.zeros(10, 1))
    intra = {"text": mg.edges.Full(), "audio": mg.edges.Sequential(1)}
    assert mg.GraphBuilder(intra=intra, max_edges=108).batch([sample]).num_edges == 108
    with pytest.raises(ValueError, match=r"Full\(\).*90 edges \(18 already built\).*max_edges=107"):
        mg.GraphBuilder(intra=intra, max_edges=107).batch([sample])


@pytest.mark.parametrize("value", [0, -5, 2.5, True, None])
def test_max_edges_must_be_a_positive_int(value) -> None:
    with pytest.raises(ValueError, match="max_edges"):
        mg.GraphBuilder(max_edges=value)


def test_default_limit_refuses_a_full_graph_of_ten_thousand_nodes() -> None:
    with pytest.raises(ValueError, match="99,990,000 edges"):
        mg.GraphBuilder(intra={"image": mg.edges.Full()})(mg.MultimodalSample(image=torch.zeros(10_000, 1)))


def test_masks_with_holes_number_nodes_by_rank() -> None:
    """A batch made by hand may mask out inner positions; node i is the i-th real element."""
    x = torch.arange(10.0).view(1, 5, 2)
    mb = ModalityBatch(x, mask=torch.tensor([[True, False, True, True, False]]))
    graph = mg.GraphBuilder(intra={"a": mg.edges.Full()}).batch(mg.MultimodalBatch({"a": mb}))
    assert graph["a"].x.tolist() == [[0, 1], [4, 5], [6, 7]]
    assert graph["a", "intra", "a"].edge_index.tolist() == [[0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1]]


def test_stable_topk_mask_keeps_ties_by_index() -> None:
    score = torch.tensor([[[1.0], [0.0], [1.0], [0.0], [1.0]]])
    allowed = torch.ones_like(score, dtype=torch.bool)
    assert stable_topk_mask(score, allowed, 2, largest=True).squeeze().tolist() == [True, False, True, False, False]
    assert stable_topk_mask(score, allowed, 3, largest=False).squeeze().tolist() == [True, True, False, True, False]
