"""Fixtures for the visualisation tests: a small graph fusion model and its attention on a tiny batch."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg
from mmgraph.nn import GraphFusionModel, GraphFusionOutput
from tests.conftest import IN_DIMS
from tests.conftest import heads_for


def viz_builder() -> mg.GraphBuilder:
    return mg.GraphBuilder(
        intra={"text": mg.edges.Sequential(window=1), "image": mg.edges.Full(attr="pos"), "audio": mg.edges.Sequential(1)},
        cross={("text", "audio"): mg.edges.TemporalOverlap(), ("text", "image"): mg.edges.Full()},
        fusion_node=True,
    )


def make_model(conv: str = "gat", seed: int = 0, **kwargs) -> GraphFusionModel:
    torch.manual_seed(seed)
    return GraphFusionModel(IN_DIMS, hidden=8, out_dim=3, conv=conv, **heads_for(conv), builder=viz_builder(), **kwargs).eval()


@pytest.fixture
def model() -> GraphFusionModel:
    return make_model()


@pytest.fixture
def output(model: GraphFusionModel, batch: mg.MultimodalBatch) -> GraphFusionOutput:
    with torch.no_grad():
        out = model(batch, return_attention=True)
    assert isinstance(out, GraphFusionOutput)
    return out
