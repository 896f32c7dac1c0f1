"""The trained checkpoints in docs/models still load into the models their metadata describes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmgraph.bench.runner import build_model
from mmgraph.bench.tasks import make_task
from mmgraph.train import load_checkpoint, read_metadata

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINTS = sorted((ROOT / "docs" / "models").glob("*.safetensors"))


def test_the_notebook_checkpoints_are_there() -> None:
    assert {p.name for p in CHECKPOINTS} == {
        "sort-of-clevr-state-graph-relational.safetensors", "sentiment-graph-relational.safetensors",
    }


@pytest.mark.parametrize("path", CHECKPOINTS, ids=lambda p: p.stem)
def test_checkpoint_loads_exactly(path: Path) -> None:
    meta = read_metadata(path)["mmgraph.viz"]
    options = {"input": meta["input"]} if meta["task"] == "sort-of-clevr" else {}
    task = make_task(meta["task"], **options, sizes=(1, 1, 1))
    task.load(quick=False)
    model = build_model(task, meta["model"], meta["hidden"])
    load_checkpoint(path, model)  # strict: same names and shapes
    example = task.example("test", 0)
    with torch.no_grad():
        out = model.eval()(example.batch)
    assert out.shape == (1, task.out_dim) and torch.isfinite(out).all()
