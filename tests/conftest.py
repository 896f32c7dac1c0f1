"""Shared fixtures: tiny random multimodal samples."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg

# Tiny tensors gain nothing from intra-op threads, and on a loaded 2-core machine the
# thread pool's contention makes each op ~10x slower.
torch.set_num_threads(1)

IN_DIMS = {"audio": 4, "image": 5, "text": 6}


def make_sample(
    generator: torch.Generator, n_text: int, n_image: int, n_audio: int, y: int | None = None
) -> mg.MultimodalSample:
    """A random sample with text (timed), image (positioned) and audio (timed) modalities; 0 = absent."""
    mods: dict[str, mg.Modality] = {}
    if n_text:
        start = torch.arange(n_text, dtype=torch.float) * 0.4
        mods["text"] = mg.Modality(torch.randn(n_text, 6, generator=generator), time=torch.stack([start, start + 0.4], 1))
    if n_image:
        mods["image"] = mg.Modality(torch.randn(n_image, 5, generator=generator), pos=torch.rand(n_image, 2, generator=generator))
    if n_audio:
        start = torch.arange(n_audio, dtype=torch.float) * 0.25
        mods["audio"] = mg.Modality(torch.randn(n_audio, 4, generator=generator), time=torch.stack([start, start + 0.25], 1))
    return mg.MultimodalSample(mods, y=y)


@pytest.fixture
def samples() -> list[mg.MultimodalSample]:
    g = torch.Generator().manual_seed(0)
    sizes = [(3, 5, 4), (6, 2, 7), (1, 9, 3), (4, 4, 4)]
    return [make_sample(g, *s, y=i % 3) for i, s in enumerate(sizes)]


@pytest.fixture
def batch(samples: list[mg.MultimodalSample]) -> mg.MultimodalBatch:
    return mg.collate(samples)


@pytest.fixture
def rich_builder() -> mg.GraphBuilder:
    """A builder that uses every edge strategy."""
    return mg.GraphBuilder(
        intra={
            "text": mg.edges.Sequential(window=2),
            "image": mg.edges.SpatialKNN(k=3),
            "audio": mg.edges.FeatureKNN(k=2),
        },
        cross={("text", "image"): mg.edges.Full(), ("text", "audio"): mg.edges.TemporalOverlap()},
        fusion_node=True,
    )


def heads_for(conv, heads: int = 2) -> dict:
    """``{"heads": heads}`` for a conv that has attention heads, else ``{}`` (giving heads to another is an error)."""
    from mmgraph.nn.hetero_gnn import CONVS

    cls = CONVS[conv] if isinstance(conv, str) else conv
    return {"heads": heads} if "heads" in getattr(cls, "options", ()) else {}
