from __future__ import annotations

import pytest
import torch

import mmgraph as mg
from mmgraph.viz.select import is_batched, num_graphs, select_example
from tests.viz.conftest import make_model


@pytest.mark.parametrize("conv", ["gat", "gatv2", "gcn", "relational", "typed-relational"])
@pytest.mark.parametrize("index", [0, 2])
def test_example_attention_equals_running_the_sample_alone(samples, conv: str, index: int) -> None:
    model = make_model(conv)
    with torch.no_grad():
        batched = model(mg.collate(samples), return_attention=True)
        alone = model(mg.collate([samples[index]]), return_attention=True)
    graph, att, _ = select_example(batched.graph, batched.attention, index)
    assert graph["text"].num_nodes == samples[index]["text"].num_elements
    assert len(att) == len(alone.attention)
    for mine, ref in zip(att, alone.attention):
        assert set(mine) == set(ref)
        for et in ref:
            assert torch.equal(mine[et].edge_index, ref[et].edge_index), et
            torch.testing.assert_close(mine[et].weight, ref[et].weight)


def test_readout_weights_are_sliced(samples) -> None:
    model = make_model(readout=("attention", "fusion"))
    with torch.no_grad():
        out = model(mg.collate(samples), return_attention=True)
    _, _, weights = select_example(out.graph, out.attention, 1, out.readout)
    assert weights["image"].shape == (samples[1]["image"].num_elements,)
    torch.testing.assert_close(weights["image"].sum(), torch.tensor(1.0))


def test_single_graph_is_returned_as_is(samples) -> None:
    graph = make_model().builder(samples[0])
    assert not is_batched(graph) and num_graphs(graph) == 1
    g, att, ro = select_example(graph)
    assert g is graph and att is None and ro is None


def test_errors(output) -> None:
    assert num_graphs(output.graph) == 4
    with pytest.raises(ValueError, match="holds 4 graphs: pass example"):
        select_example(output.graph, output.attention)
    with pytest.raises(ValueError, match=r"example:.*int.*\[0.*4\).*4"):
        select_example(output.graph, output.attention, 4)
    with pytest.raises(ValueError, match="graph:.*torch_geometric.*HeteroData.*dict"):
        select_example({}, None, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attention: expected a list with one"):
        select_example(output.graph, output.attention[0], 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"attention\[0\]\[.*\]: expected an EdgeAttention, got tuple"):
        select_example(output.graph, [{k: tuple(v) for k, v in output.attention[0].items()}], 0)
