"""The ``mmgraph`` command line."""

from __future__ import annotations

import pytest

import mmgraph as mg
from mmgraph.cli import demo_builder, demo_samples, main


def test_models_lists_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    assert capsys.readouterr().out.split() == mg.list_models()


def test_demo_runs_every_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--batch-size", "3", "--hidden", "16", "--steps", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    for name in mg.list_models():
        assert f"\n{name} " in out
    assert "(3, 10)" in out and "batched graph of 3 samples" in out


def test_demo_model_subset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--batch-size", "2", "--hidden", "8", "--steps", "1", "--models", "concat", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "\nconcat " in out and "graph-gat" not in out.split("ms/step")[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["demo", "--models", "nope"], "unknown model"),
        (["demo", "--steps", "0"], "must be >= 1"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_demo_data_matches_demo_builder() -> None:
    samples = demo_samples(2, seed=1)
    graph = demo_builder()(samples[0])
    assert set(graph.node_types) == {"text", "image", "audio", "fusion"}
    assert demo_samples(2, seed=1)[1]["image"].x.equal(samples[1]["image"].x)


def test_bench_quick_end_to_end(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from mmgraph.bench.tasks import SortOfCLEVRTask

    monkeypatch.setattr(SortOfCLEVRTask, "QUICK", (2, 1, 1))
    argv = ["bench", "sort-of-clevr", "--quick", "--models", "concat,graph-gcn", "--seeds", "1", "--epochs", "1",
            "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "task: sort-of-clevr-state" in out and "graph-gcn" in out and "acc_relational" in out
    import json

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["config"]["command"] == "mmgraph " + " ".join(argv)
    assert results["config"]["quick"] is True and results["config"]["hidden"] == 32


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "sentiment", "--input", "pixels"], "--input applies to sort-of-clevr only"),
        (["bench", "sort-of-clevr", "--seeds", "0"], "--seeds must be >= 1"),
        (["bench", "sort-of-clevr", "--models", "graph-gat,nope"], "unknown model"),
        (["bench", "vqa"], "invalid choice"),
    ],
)
def test_bench_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_bench_refuses_to_mix_settings(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from mmgraph.bench.tasks import SortOfCLEVRTask

    monkeypatch.setattr(SortOfCLEVRTask, "QUICK", (2, 1, 1))
    base = ["bench", "sort-of-clevr", "--quick", "--models", "concat", "--seeds", "1", "--out", str(tmp_path), "--no-progress"]
    assert main(base + ["--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(base + ["--epochs", "2"]) == 2
    assert "holds runs made with other settings (epochs: 1 there, 2 now)" in capsys.readouterr().err
