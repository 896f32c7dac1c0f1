"""Tests for :class:`mmgraph.nn.Readout` against a hand loop over the graphs of a batch."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch_geometric.utils import scatter

from mmgraph.nn.readout import POOLINGS, Readout

H = 4
B = 3
TYPES = ["text", "image", "fusion"]  # deliberately unsorted; "fusion" is the fusion type


def make_inputs(counts: dict[str, list[int]], seed: int = 0, fusion: bool = True):
    """``counts[t][g]`` nodes of type ``t`` in graph ``g``; node order sorted by graph."""
    gen = torch.Generator().manual_seed(seed)
    x_dict, batch_dict = {}, {}
    for t, per_graph in counts.items():
        index = torch.repeat_interleave(torch.arange(len(per_graph)), torch.tensor(per_graph))
        x_dict[t] = torch.randn(index.numel(), H, generator=gen) * 3
        batch_dict[t] = index
    if fusion:
        x_dict["fusion"] = torch.randn(B, H, generator=gen)
        batch_dict["fusion"] = torch.arange(B)
    return x_dict, batch_dict


COUNTS = {"text": [2, 0, 3], "image": [1, 4, 2]}  # graph 1 has no text node


def manual_pool(x: Tensor, mode: str, gate=None) -> Tensor:
    if x.size(0) == 0:
        return torch.zeros(H)
    if mode == "mean":
        return x.mean(0)
    if mode == "max":
        return x.max(0).values
    if mode == "sum":
        return x.sum(0)
    assert mode == "attention"
    alpha = torch.softmax(gate(x).squeeze(-1), dim=0)
    return (alpha.unsqueeze(-1) * x).sum(0)


def manual_readout(readout: Readout, x_dict, batch_dict, num_graphs: int) -> Tensor:
    rows = []
    for g in range(num_graphs):
        parts = []
        for mode in readout.modes:
            if mode == "fusion":
                continue
            for t in sorted(t for t in x_dict if t != "fusion"):
                gate = readout.gates[t] if mode == "attention" else None
                parts.append(manual_pool(x_dict[t][batch_dict[t] == g], mode, gate))
        if "fusion" in readout.modes:
            parts.append(x_dict["fusion"][g])
        rows.append(torch.cat(parts))
    return torch.stack(rows)


MODES = [
    "mean",
    "max",
    "sum",
    "attention",
    ("mean", "fusion"),
    ("max", "sum"),
    ("sum", "attention", "fusion"),
    ("mean", "max", "sum", "attention", "fusion"),
]


def build(modes) -> Readout:
    torch.manual_seed(0)
    readout = Readout(TYPES, H, modes)
    if readout.gates is not None:  # make the gates non-trivial
        with torch.no_grad():
            for gate in readout.gates.values():
                gate.bias.normal_()
    return readout


@pytest.mark.parametrize("modes", MODES)
def test_matches_hand_loop(modes) -> None:
    readout = build(modes)
    x_dict, batch_dict = make_inputs(COUNTS)
    out = readout(x_dict, batch_dict, B)
    assert readout.node_types == ["image", "text"]
    assert out.shape == (B, readout.out_dim)
    torch.testing.assert_close(out, manual_readout(readout, x_dict, batch_dict, B))


def test_sorted_node_type_order_and_fusion_last() -> None:
    readout = build(("mean", "fusion"))
    x_dict, batch_dict = make_inputs(COUNTS)
    out = readout(x_dict, batch_dict, B)
    torch.testing.assert_close(out[0, :H], x_dict["image"][batch_dict["image"] == 0].mean(0))
    torch.testing.assert_close(out[0, H : 2 * H], x_dict["text"][batch_dict["text"] == 0].mean(0))
    torch.testing.assert_close(out[:, 2 * H :], x_dict["fusion"])


@pytest.mark.parametrize(
    "node_types, modes, n_types, n_pool, n_fusion",
    [
        (["a"], "mean", 1, 1, 0),
        (["a", "b", "fusion"], "mean", 2, 1, 0),
        (["a", "b", "c"], ("mean", "max"), 3, 2, 0),
        (["a", "b", "fusion"], ("mean", "fusion"), 2, 1, 1),
        (["a", "fusion"], "fusion", 1, 0, 1),
        (["a", "b", "fusion"], ("mean", "max", "sum", "attention", "fusion"), 2, 4, 1),
    ],
)
def test_out_dim(node_types, modes, n_types, n_pool, n_fusion) -> None:
    readout = Readout(node_types, H, modes)
    assert readout.out_dim == H * (n_types * n_pool + n_fusion)
    assert len(readout.node_types) == n_types
    x_dict = {t: torch.randn(5, H) for t in node_types if t != "fusion"}
    batch_dict = {t: torch.tensor([0, 0, 1, 1, 1]) for t in x_dict}
    x_dict["fusion"] = torch.randn(2, H)
    assert readout(x_dict, batch_dict, 2).shape == (2, readout.out_dim)


def test_custom_fusion_type_excluded_from_pooling() -> None:
    readout = Readout(["a", "hub"], H, ("sum", "fusion"), fusion_type="hub")
    assert readout.node_types == ["a"] and readout.out_dim == 2 * H
    x = torch.randn(3, H)
    hub = torch.randn(2, H)
    out = readout({"a": x, "hub": hub}, {"a": torch.tensor([0, 1, 1])}, 2)
    torch.testing.assert_close(out, torch.cat([torch.stack([x[0], x[1] + x[2]]), hub], dim=1))


@pytest.mark.parametrize("mode", ["mean", "max", "sum", "attention"])
def test_graph_without_nodes_of_a_type_pools_to_zeros(mode: str) -> None:
    readout = build(mode)
    x_dict, batch_dict = make_inputs(COUNTS)
    x_dict["image"] = -x_dict["image"].abs() - 1.0  # all negative: max must not be clamped at 0
    out = readout(x_dict, batch_dict, B)
    text = slice(H, 2 * H)  # image block first, then text
    assert torch.equal(out[1, text], torch.zeros(H))
    assert (out[0, text] != 0).all()
    if mode != "sum":
        assert (out[:, :H] < 0).all()
    # a node type with no node at all in the batch, and trailing empty graphs
    x_dict["text"], batch_dict["text"] = torch.zeros(0, H), torch.zeros(0, dtype=torch.long)
    out = readout(x_dict, batch_dict, B + 2)
    assert out.shape == (B + 2, 2 * H)
    assert torch.equal(out[:, text], torch.zeros(B + 2, H))
    assert torch.equal(out[B:], torch.zeros(2, 2 * H))


def test_attention_weights() -> None:
    readout = build(("attention", "fusion"))
    x_dict, batch_dict = make_inputs(COUNTS)
    out, weights = readout(x_dict, batch_dict, B, return_weights=True)
    torch.testing.assert_close(out, readout(x_dict, batch_dict, B))
    assert set(weights) == {"image", "text"}
    for t, alpha in weights.items():
        index = batch_dict[t]
        assert alpha.shape == (x_dict[t].size(0),)
        assert (alpha > 0).all()
        total = scatter(alpha, index, dim=0, dim_size=B, reduce="sum")
        present = torch.bincount(index, minlength=B) > 0
        torch.testing.assert_close(total[present], torch.ones(int(present.sum())))
        assert (total[~present] == 0).all()
        for g in range(B):
            sel = index == g
            if sel.any():
                manual = torch.softmax(readout.gates[t](x_dict[t][sel]).squeeze(-1), dim=0)
                torch.testing.assert_close(alpha[sel], manual)
        # not uniform: the gate matters
        assert not torch.allclose(alpha, 1.0 / torch.bincount(index, minlength=B)[index].float())


@pytest.mark.parametrize("modes", ["mean", "sum"])
def test_no_weights_without_attention(modes) -> None:
    readout = build(modes)
    assert readout.gates is None
    x_dict, batch_dict = make_inputs(COUNTS)
    _, weights = readout(x_dict, batch_dict, B, return_weights=True)
    assert weights == {}


@pytest.mark.parametrize("modes", MODES)
def test_pooling_is_per_graph(modes) -> None:
    readout = build(modes)
    x_dict, batch_dict = make_inputs(COUNTS)
    out = readout(x_dict, batch_dict, B)
    # change graph 1: new values, and more nodes for it
    x2, b2 = make_inputs({"text": [2, 5, 3], "image": [1, 2, 2]}, seed=9)
    for t in ("text", "image"):
        keep0, keep2 = batch_dict[t] == 0, batch_dict[t] == 2
        x2[t][b2[t] == 0] = x_dict[t][keep0]
        x2[t][b2[t] == 2] = x_dict[t][keep2]
    x2["fusion"] = x_dict["fusion"].clone()
    x2["fusion"][1] += 1.0
    out2 = readout(x2, b2, B)
    torch.testing.assert_close(out2[0], out[0])
    torch.testing.assert_close(out2[2], out[2])
    assert not torch.allclose(out2[1], out[1])


def test_gradients_flow_to_gates() -> None:
    readout = build("attention")
    x_dict, batch_dict = make_inputs(COUNTS)
    readout(x_dict, batch_dict, B).square().sum().backward()
    for gate in readout.gates.values():
        assert gate.weight.grad is not None and gate.weight.grad.abs().sum() > 0


def test_errors() -> None:
    assert "fusion" in POOLINGS
    with pytest.raises(ValueError, match="readout mode: expected one of .*'median'"):
        Readout(TYPES, H, "median")
    with pytest.raises(ValueError, match="readout mode: expected one of .*'median'"):
        Readout(TYPES, H, ("mean", "median"))
    with pytest.raises(ValueError, match="must be distinct"):
        Readout(TYPES, H, ("mean", "max", "mean"))
    with pytest.raises(ValueError, match="expected at least one"):
        Readout(TYPES, H, ())
    with pytest.raises(ValueError, match="expected at least one"):
        Readout(TYPES, H, [])
    readout = Readout(TYPES, H, ("mean", "fusion"))
    x_dict, batch_dict = make_inputs(COUNTS, fusion=False)
    with pytest.raises(ValueError, match="'fusion' needs a fusion node"):
        readout(x_dict, batch_dict, B)
    # without 'fusion' in modes, no fusion node is needed
    assert Readout(TYPES, H, "mean")(x_dict, batch_dict, B).shape == (B, 2 * H)


def test_flat_reads_each_graphs_nodes_in_order() -> None:
    readout = Readout(TYPES, H, ("mean", "fusion"), flat={"image": 2})
    x_dict, batch_dict = make_inputs({"text": [2, 0, 3], "image": [2, 2, 2]})
    out = readout(x_dict, batch_dict, B)
    assert readout.out_dim == H * (2 + 1 + 2) and out.shape == (B, readout.out_dim)
    pooled = Readout(TYPES, H, ("mean", "fusion"))(x_dict, batch_dict, B)
    torch.testing.assert_close(out[:, : pooled.size(1)], pooled)
    for g in range(B):  # graph g's two image nodes, first then second
        torch.testing.assert_close(out[g, pooled.size(1):], x_dict["image"][2 * g: 2 * g + 2].reshape(-1))
    assert "flat={'image': 2}" in repr(readout)


def test_flat_on_a_layout_matches_the_dict_path() -> None:
    import mmgraph as mg
    from mmgraph.graph.layout import flatten

    samples = [mg.MultimodalSample(image=torch.randn(3, 2), text=torch.randn(n, 2), y=0) for n in (1, 4)]
    builder = mg.GraphBuilder.complete(["image", "text"])
    graph = builder.batch(mg.collate(samples))
    types, edge_types = builder.node_types(["image", "text"]), builder.edge_types(["image", "text"])
    layout = flatten(graph, types, edge_types)
    h = torch.randn(layout.node_ptr[-1], H)
    readout = Readout(types, H, ("mean", "fusion"), flat={"image": 3})
    x_dict = {t: h[layout.node_slice(t)] for t in types}
    batch_dict = {t: layout.batch[layout.node_slice(t)] for t in types}
    torch.testing.assert_close(readout.forward_layout(h, layout), readout(x_dict, batch_dict, 2))
    with pytest.raises(ValueError, match=r"flat\['image'\] expects 4 nodes per graph .*got 6 'image' nodes"):
        Readout(types, H, "mean", flat={"image": 4}).forward_layout(h, layout)


@pytest.mark.parametrize(("flat", "words"), [
    ({"audio": 2}, r"flat: 'audio' is not one of \['image', 'text'\]"),
    ({"image": 0}, r"flat\['image'\]: expected a positive number .* got 0"),
    ({"image": True}, r"flat\['image'\]: expected a positive number"),
    ([("image", 2)], "flat: expected a mapping"),
])
def test_flat_errors(flat, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Readout(TYPES, H, "mean", flat=flat)


def test_pool_limits_the_poolings_to_some_node_types() -> None:
    import mmgraph as mg
    from mmgraph.graph.layout import flatten

    samples = [mg.MultimodalSample(image=torch.randn(3, 2), text=torch.randn(n, 2), y=0) for n in (1, 4)]
    builder = mg.GraphBuilder.complete(["image", "text"])
    types, edge_types = builder.node_types(["image", "text"]), builder.edge_types(["image", "text"])
    layout = flatten(builder.batch(mg.collate(samples)), types, edge_types)
    h = torch.randn(layout.node_ptr[-1], H)
    full = Readout(types, H, "mean", flat={"image": 3}).forward_layout(h, layout)
    text_only = Readout(types, H, "mean", flat={"image": 3}, pool=["text"])
    out = text_only.forward_layout(h, layout)
    assert text_only.out_dim == H * (1 + 3) and out.shape == (2, text_only.out_dim)
    torch.testing.assert_close(out, full[:, H:])  # the text's mean and the flat image, without the image's mean
    x_dict = {t: h[layout.node_slice(t)] for t in types}
    batch_dict = {t: layout.batch[layout.node_slice(t)] for t in types}
    torch.testing.assert_close(text_only(x_dict, batch_dict, 2), out)
    assert "Readout(['text']" in repr(text_only)


@pytest.mark.parametrize(("pool", "words"), [
    (["audio"], r"pool: expected a list of node types among \['image', 'text'\], got \['audio'\]"),
    ("text", r"pool: expected a list of node types .* got 'text'"),
    ([], r"pool: expected at least one node type for the poolings \['mean'\], got none"),
])
def test_pool_errors(pool, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Readout(TYPES, H, "mean", pool=pool)
