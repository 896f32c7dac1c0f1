import pytest
import torch

import mmgraph as mg
from mmgraph.data import GroupedBatchSampler, MultimodalDataset, MultimodalLoader, RawItem


def test_plain_batches_cover_every_sample_once() -> None:
    batches = list(GroupedBatchSampler(10, 4, shuffle=True, seed=0))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(i for b in batches for i in b) == list(range(10))


def test_groups_stay_together_and_order_is_reproducible() -> None:
    groups = [i % 5 for i in range(20)]  # 5 groups of 4, interleaved
    sampler = GroupedBatchSampler(20, 8, groups, shuffle=True, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3 and [len(b) for b in batches] == [8, 8, 4]
    for b in batches:
        assert all(sum(groups[i] == g for i in b) in (0, 4) for g in range(5))
    again = list(GroupedBatchSampler(20, 8, groups, shuffle=True, seed=3))
    assert again == batches
    assert list(sampler) != batches  # the next epoch has another order


def test_loader_dedups_images_and_exposes_its_generator() -> None:
    pix = torch.randint(0, 255, (4, 3, 8, 8), dtype=torch.uint8)
    samples = [mg.MultimodalSample(q=torch.randn(2, 3), image=RawItem(pix[i % 4], key=i % 4), y=i % 2) for i in range(40)]
    loader = MultimodalLoader(MultimodalDataset(samples), batch_size=20, shuffle=True, seed=0)
    sizes = [(b.batch_size, b.raw["image"].data.size(0)) for b in loader]
    assert sizes == [(20, 2), (20, 2)]  # 10 questions per image, 2 images per batch, each encoded once
    state = loader.generator.get_state()
    first = [b.y.tolist() for b in loader]
    loader.generator.set_state(state)
    assert [b.y.tolist() for b in loader] == first


def test_loader_attaches_graphs_with_a_graph_collate() -> None:
    samples = [mg.MultimodalSample(text=torch.randn(3, 4), y=0) for _ in range(6)]
    builder = mg.GraphBuilder(intra={"text": mg.edges.Sequential(1)}, fusion_node=True)
    loader = MultimodalLoader(MultimodalDataset(samples), batch_size=4, collate=mg.GraphCollate(builder))
    assert all(b.graph is not None and b.graph.layout.num_graphs == b.batch_size for b in loader)


def test_loader_in_worker_processes() -> None:
    samples = [mg.MultimodalSample(text=torch.full((2, 3), float(i)), y=i) for i in range(8)]
    loader = MultimodalLoader(MultimodalDataset(samples), batch_size=4, num_workers=2)
    assert torch.cat([b.y for b in loader]).tolist() == list(range(8))


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="dataset: expected a map-style dataset"):
        MultimodalLoader(42)
    with pytest.raises(ValueError, match="batch_size:.*int.*>=.*1.*0"):
        MultimodalLoader(MultimodalDataset([mg.MultimodalSample(a=torch.ones(1, 1))]), batch_size=0)
