from __future__ import annotations

import pytest

import mmgraph as mg
from tests.conftest import IN_DIMS


def test_panels_and_title(model, samples) -> None:
    batch = mg.collate(samples[1:2])
    fig = mg.viz.explain(model, batch, panels=["readout", "importance"], title="q", truth="yes",
                         describe=lambda out: f"class {int(out.argmax())}")
    assert [ax.get_title() for ax in fig.axes] == ["what the prediction used", "modality importance"]
    predicted = int(model(batch).argmax())
    assert fig._suptitle.get_text() == f"q\nanswer: yes · predicted: class {predicted}"


def test_dataset_importance_is_shown_beside_the_sample(model, batch, samples) -> None:
    shares = mg.viz.dataset_importance(model, [batch, batch], methods=["gradient"])
    assert set(shares) == {"gradient"} and sum(shares["gradient"].values()) == pytest.approx(1.0)
    once = mg.viz.dataset_importance(model, [batch], methods=["gradient"])
    assert shares["gradient"] == pytest.approx(once["gradient"])  # the same batch twice: the same shares
    fig = mg.viz.explain(model, mg.collate(samples[:1]), panels=["importance"], dataset=shares)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["gradient (this sample)", "occlusion (this sample)", "attention (this sample)", "gradient (dataset)"]


def test_baselines_show_importance_only(samples) -> None:
    baseline = mg.get_model("concat", in_dims=IN_DIMS, hidden=8, out_dim=3)
    fig = mg.viz.explain(baseline, mg.collate(samples[:1]), panels=["importance"])
    assert [ax.get_title() for ax in fig.axes] == ["modality importance"]
    with pytest.raises(ValueError, match=r"panels.*\['graph'.*'heatmap'.*'readout'\].*fusion"):
        mg.viz.explain(baseline, mg.collate(samples[:1]))


def test_errors(model, batch) -> None:
    with pytest.raises(ValueError, match="batch:.*MultimodalBatch.*holding.*sample.*4"):
        mg.viz.explain(model, batch)
    with pytest.raises(ValueError, match="panels: expected a non-empty subset of"):
        mg.viz.explain(model, mg.collate(batch.unbatch()[:1]), panels=["pie"])
    with pytest.raises(ValueError, match="batches:.*least.*batch.*none"):
        mg.viz.dataset_importance(model, [])


def test_the_model_keeps_its_mode(model, samples) -> None:
    model.train()
    mg.viz.explain(model, mg.collate(samples[:1]), panels=["graph"])
    assert model.training
