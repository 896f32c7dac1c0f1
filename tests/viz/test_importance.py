from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import mmgraph as mg
from tests.viz.conftest import make_model


class TextOnly(nn.Module):
    """f = w · (sum of text features): linear, ignores image and audio."""

    task = "regression"

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(6))

    def forward(self, batch: mg.MultimodalBatch) -> Tensor:
        if "text" not in batch:
            return torch.zeros(batch.batch_size, 1)
        mb = batch["text"]
        return ((mb.x * mb.mask.unsqueeze(-1)).sum(1) @ self.w).unsqueeze(-1)


def test_gradient_times_input_is_exact_for_a_linear_model(batch) -> None:
    model = TextOnly()
    imp = mg.viz.modality_importance(model, batch, "gradient")
    torch.testing.assert_close(imp["text"], model(batch).squeeze(-1).detach())  # completeness
    assert torch.equal(imp["image"], torch.zeros(4)) and torch.equal(imp["audio"], torch.zeros(4))


def test_occlusion_of_an_ignored_modality_is_zero(batch) -> None:
    model = TextOnly()
    imp = mg.viz.modality_importance(model, batch, "occlusion")
    assert torch.equal(imp["image"], torch.zeros(4)) and torch.equal(imp["audio"], torch.zeros(4))
    torch.testing.assert_close(imp["text"], model(batch).squeeze(-1).detach())  # f(x) - f(x without text) = f(x) - 0
    with pytest.raises(ValueError, match=r"occlusion.*needs.*modalities.*remove.*\['text'\]"):
        mg.viz.modality_importance(model, batch.without("audio", "image"), "occlusion")


@pytest.mark.parametrize("method", mg.viz.MODALITY_METHODS)
def test_graph_model_every_method(model, batch, method: str) -> None:
    model.train()
    imp = mg.viz.modality_importance(model, batch, method)
    assert model.training  # mode restored
    assert set(imp) == {"text", "image", "audio"} and all(v.shape == (4,) for v in imp.values())
    if method == "attention":
        torch.testing.assert_close(sum(imp.values()), torch.ones(4))
    shares = mg.viz.summarize(imp)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_explained_class_is_the_target(model, batch) -> None:
    a = mg.viz.modality_importance(model, batch, "gradient", target=torch.zeros(4, dtype=torch.long))
    b = mg.viz.modality_importance(model, batch, "gradient", target=torch.ones(4, dtype=torch.long))
    assert not torch.allclose(a["text"], b["text"])
    with pytest.raises(ValueError, match=r"target:.*\[0.*3\).*\[5.*5"):
        mg.viz.modality_importance(model, batch, "gradient", target=torch.full((4,), 5))


def test_edge_type_importance(model, batch) -> None:
    att = mg.viz.edge_type_importance(model, batch, "attention")
    assert set(att) <= set(model.edge_types)
    torch.testing.assert_close(sum(att.values()), torch.ones(4))
    occ = mg.viz.edge_type_importance(model, batch, "occlusion")
    assert set(occ) == set(model.edge_types)
    manual = model(batch).softmax(-1)
    top = manual.argmax(-1)
    et = ("text", "cross", "image")
    dropped = model(batch, drop_edges=[et]).softmax(-1)
    torch.testing.assert_close(occ[et], (manual - dropped).gather(-1, top[:, None]).squeeze(-1).detach())


def test_edge_removal_that_cannot_matter_is_zero(samples) -> None:
    # readout reads only the fusion node, and the last layer's image→image messages reach it too late
    model = make_model(readout="fusion", num_layers=1)
    occ = mg.viz.edge_type_importance(model, mg.collate(samples), "occlusion")
    assert torch.equal(occ[("image", "intra", "image")], torch.zeros(4))
    assert occ[("image", "fuse", "fusion")].abs().sum() > 0


def test_errors(model, batch) -> None:
    with pytest.raises(ValueError, match="method: expected one of"):
        mg.viz.modality_importance(model, batch, "shap")
    with pytest.raises(ValueError, match="batch: expected a MultimodalBatch"):
        mg.viz.modality_importance(model, [1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="method='attention' needs a GraphFusionModel, got TextOnly"):
        mg.viz.modality_importance(TextOnly(), batch, "attention")
    with pytest.raises(ValueError, match="edge_type_importance needs a GraphFusionModel"):
        mg.viz.edge_type_importance(TextOnly(), batch)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="drop_edges:.*.*.*edge.*types.*model"):
        model(batch, drop_edges=[("a", "b", "c")])


def test_plot_importance() -> None:
    fig = mg.viz.plot_importance({"gradient": {"text": 0.7, "audio": 0.3}, "attention": {"text": 0.5, "audio": 0.5}})
    assert len(fig.axes[0].patches) == 4
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["audio", "text"]
    assert mg.viz.edge_type_name(("text", "cross", "audio")) == "text→audio (cross)"
    with pytest.raises(ValueError, match="results: expected a non-empty"):
        mg.viz.plot_importance({})


@pytest.mark.parametrize("name", ["concat", "attention", "late", "tensor"])
@pytest.mark.parametrize("method", ["gradient", "occlusion"])
def test_baselines_can_be_explained_too(batch, name: str, method: str) -> None:
    torch.manual_seed(0)
    from tests.conftest import IN_DIMS

    model = mg.get_model(name, in_dims=IN_DIMS, hidden=8, out_dim=3).eval()
    imp = mg.viz.modality_importance(model, batch, method)
    assert set(imp) == {"text", "image", "audio"}
    assert all(v.shape == (4,) and torch.isfinite(v).all() for v in imp.values())
    assert any(v.abs().sum() > 0 for v in imp.values())
