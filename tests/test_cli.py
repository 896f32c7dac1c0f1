"""The ``mmgraph`` command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

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
    "task, models, metric",
    [("retrieval", "dual-graph,rerank-graph", "t2i_r1"), ("captioning", "caption-graph,caption-pooled", "relation_em")],
)
def test_bench_retrieval_and_captioning_from_the_cli(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys, task: str,
                                                     models: str, metric: str) -> None:
    from mmgraph.bench.tasks import CaptioningTask, RetrievalTask

    monkeypatch.setattr(RetrievalTask, "QUICK", (6, 4, 5))
    monkeypatch.setattr(CaptioningTask, "QUICK", (6, 4, 5))
    argv = ["bench", task, "--quick", "--models", models, "--seeds", "1", "--epochs", "1", "--out", str(tmp_path),
            "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"task: {task}" in out and metric in out and all(m in out for m in models.split(","))


def test_models_by_family(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--family", "retrieval"]) == 0
    assert capsys.readouterr().out.split() == ["dual-graph", "dual-pooled", "rerank-attention", "rerank-graph"]
    assert main(["models", "--family", "all"]) == 0
    assert {"caption-graph", "graph-gat", "rerank-graph"} <= set(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "sentiment", "--input", "pixels"], "--input applies to sort-of-clevr and captioning only"),
        (["bench", "retrieval", "--input", "pixels"], "--input applies to sort-of-clevr and captioning only"),
        (["bench", "sentiment", "--text", "minilm"], "--text applies to retrieval and sort-of-clevr only"),
        (["bench", "sort-of-clevr", "--seeds", "0"], "--seeds must be >= 1"),
        (["bench", "sort-of-clevr", "--models", "graph-gat,nope"], "unknown model"),
        (["bench", "vqa"], "invalid choice"),
        (["bench", "sentimnt"], "did you mean 'sentiment'?"),
        (["bench", "sort-of-clevr", "--models", "grpah-gat"], "did you mean 'graph-gat'?"),
        (["bench", "task.py:TASK", "--input", "pixels"], "--input apply to the built-in tasks only"),
        (["bench", "my.module:TASK", "--text", "minilm"], "--text apply to the built-in tasks only"),
        (["bench", "sort-of-clevr", "--only-seeds", "1,x"], "expected comma-separated integers, got '1,x'"),
        (["bench", "sort-of-clevr", "--only-seeds", "-1"], "--only-seeds: expected seeds >= 0, got [-1]"),
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
    assert main(base + ["--epochs", "1", "--scheduler", "none"]) == 2
    assert "(scheduler: None there, 'none' now)" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_bench_unavailable_device(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "sort-of-clevr", "--quick", "--device", "cuda", "--out", str(tmp_path), "--no-progress"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "--device: 'cuda': CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--out", "{file}"], "--out: '{file}' is a file, not a folder"),
        (["--out", ""], "--out: expected a folder, got an empty name"),
        (["--out", "{file}/sub"], "--out: cannot create the folder"),
        (["--lrs", "-1"], "argument --lrs: expected a finite number > 0, got '-1'"),
        (["--lrs", "1e-3,nan"], "argument --lrs: expected a finite number > 0, got 'nan'"),
        (["--device", "meta"], "--device: expected cpu, cuda[:N] or mps where available, got 'meta'"),
        (["--device", "tpu:9"], "--device: expected a torch device"),
        (["--scheduler", "step"], "argument --scheduler: invalid choice: 'step'"),
    ],
)
def test_bench_bad_paths_rates_and_devices_fail_before_any_work(tmp_path, monkeypatch, capsys, argv: list[str],
                                                                 words: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("x")
    argv = [a.format(file=tmp_path / "f") for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(["bench", "sort-of-clevr", "--quick", "--no-progress", *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and words.format(file=tmp_path / "f") in err
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


def test_bench_only_seeds_splits_a_benchmark(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from mmgraph.bench.tasks import SortOfCLEVRTask

    monkeypatch.setattr(SortOfCLEVRTask, "QUICK", (2, 1, 1))
    base = ["bench", "sort-of-clevr", "--quick", "--models", "concat", "--epochs", "1", "--out", str(tmp_path),
            "--no-progress"]
    assert main(base + ["--only-seeds", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["concat__seed1.json"]
    assert main(base + ["--only-seeds", "0"]) == 0
    capsys.readouterr()
    assert main(base + ["--seeds", "2", "--report-only"]) == 0
    assert len(json.loads((tmp_path / "results.json").read_text())["models"]["concat"]["metrics"]["acc"]["runs"]) == 2


VIZ_TINY = ["--train", "4", "--epochs", "1", "--hidden", "8", "--dataset-batches", "1", "--no-progress"]


def test_viz_trains_saves_and_reloads(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt, png, svg = tmp_path / "m.safetensors", tmp_path / "a.png", tmp_path / "a.svg"
    assert main(["viz", *VIZ_TINY, "--sample", "12", "--out", str(png), "--save-checkpoint", str(ckpt)]) == 0
    first = capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and ckpt.is_file()
    assert "training graph-relational on sort-of-clevr-state: 80 samples, 1 epochs" in first
    assert "(relational)" in first and f"figure: {png}" in first
    assert main(["viz", "--checkpoint", str(ckpt), "--sample", "12", "--out", str(svg), "--dataset-batches", "0"]) == 0
    second = capsys.readouterr().out
    assert "loaded graph-relational (sort-of-clevr-state)" in second
    predicted = [line for line in first.splitlines() if line.startswith("answer:")]
    assert predicted == [line for line in second.splitlines() if line.startswith("answer:")]  # the same model
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()


@pytest.mark.parametrize(
    ("argv", "expect"),
    [
        (["--task", "sentiment", "--panels", "graph,heatmap"], "answer: "),
        (["--input", "pixels", "--panels", "graph,readout"], "(non-relational)"),
        (["--model", "concat"], "answer: "),
    ],
)
def test_viz_tasks_inputs_and_baselines(tmp_path, argv: list[str], expect: str, capsys) -> None:
    out = tmp_path / "v.png"
    assert main(["viz", *VIZ_TINY, *argv, "--out", str(out)]) == 0
    assert expect in capsys.readouterr().out and out.stat().st_size > 1000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "x.jpg"], "--out: expected a .png, .svg or .pdf file, got 'x.jpg'"),
        (["--model", "concat", "--panels", "graph"], r"panels \['graph'\] need a graph fusion model"),
        (["--sample", "5000"], r"sample: expected an index in \[0, 1000\) of the 'test' split, got 5000"),
    ],
)
def test_viz_errors(tmp_path, argv: list[str], message: str, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["viz", *VIZ_TINY, *argv]) == 2
    assert __import__("re").search(message, capsys.readouterr().err)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "nope"], "--model: unknown model 'nope'"),
        (["--model", "graph-gta"], "did you mean 'graph-gat'?"),
        (["--panels", "graph,pie"], "--panels: expected a comma-separated subset of graph,heatmap,readout,importance"),
        (["--task", "sentiment", "--input", "state"], "--input applies to sort-of-clevr and captioning only"),
        (["--top-k", "0"], "--top-k must be >= 1, got 0"),
    ],
)
def test_viz_bad_arguments(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["viz", *argv])
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dpi", "100000"], "--dpi: expected 10 .. 1200, got 100000"),
        (["--out", "/nonexistent/dir/x.png"], "--out: the folder '/nonexistent/dir' does not exist"),
        (["--save-checkpoint", "/nonexistent/m.safetensors"], "--save-checkpoint: the folder '/nonexistent' does not"),
        (["--lr", "-1"], "argument --lr: expected a finite number > 0, got '-1'"),
        (["--checkpoint", "m.safetensors", "--model", "concat"], "--model: --checkpoint sets the task, model and sizes"),
        (["--checkpoint", "m.safetensors", "--hidden", "8", "--task", "sentiment"], "--task, --hidden: --checkpoint sets"),
    ],
)
def test_viz_bad_options_fail_before_any_work(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["viz", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.fixture(scope="module")
def viz_checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("viz")
    path = folder / "m.safetensors"
    assert main(["viz", *VIZ_TINY, "--out", str(folder / "a.png"), "--panels", "importance", "--dataset-batches", "0",
                 "--save-checkpoint", str(path)]) == 0
    return path


def _edited(src, dst, edit) -> None:
    import struct

    raw = src.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["mmgraph.metadata"])
    header["__metadata__"]["mmgraph.metadata"] = json.dumps(edit(meta))
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    dst.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + n :])


def _viz_field(key, value):
    return lambda m: {**m, "mmgraph.viz": {**m["mmgraph.viz"], key: value}}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_viz_field("hidden", 12000), "hidden must be an int in 1 .. 4,096, got 12000"),
        (_viz_field("train", 10**12), "train must be an int in 1 .. 1,000,000"),
        (_viz_field("task", "nope"), "task 'nope' is not one of"),
        (_viz_field("model", "nope"), "model 'nope' is not one of"),
        (_viz_field("data_seed", -5), "data_seed must be an int in 0 .."),
        (_viz_field("hidden", 16), "its tensors do not fit the model its metadata describes"),
        (lambda m: [1, 2], "its metadata must be a JSON object"),
        (lambda m: {"mmgraph.viz": [1]}, "was not written by 'mmgraph viz --save-checkpoint'"),
    ],
)
def test_viz_crafted_checkpoint_metadata_is_refused(viz_checkpoint, tmp_path, edit, message: str, capsys) -> None:
    path = tmp_path / "crafted.safetensors"
    _edited(viz_checkpoint, path, edit)
    assert main(["viz", "--checkpoint", str(path), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert message in err and "crafted.safetensors" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("damage", ["truncate", "flip", "folder", "missing"])
def test_viz_damaged_checkpoints_are_refused(viz_checkpoint, tmp_path, damage: str, capsys) -> None:
    raw = viz_checkpoint.read_bytes()
    path = tmp_path / "d.safetensors"
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        path.write_bytes(raw[:-3000] + bytes(b ^ 0x5A for b in raw[-3000:]))
    elif damage == "folder":
        path.mkdir()
    assert main(["viz", "--checkpoint", str(path), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    words = {"truncate": "not a readable safetensors file", "flip": "is corrupt", "folder": "(a folder)",
             "missing": "checkpoint not found"}[damage]
    assert words in err and "Traceback" not in err


def test_viz_help_explains_every_option() -> None:
    from mmgraph.cli import build_parser

    viz = build_parser()._subparsers._group_actions[0].choices["viz"]  # type: ignore[union-attr]
    for action in viz._actions:
        assert action.help and len(action.help) > 10, f"{action.option_strings} has no help"
        if action.default not in (None, False) and action.dest != "help":
            assert "default:" in action.help, f"{action.option_strings} does not state its default"


def test_bench_help_lists_every_task_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert "default settings (full run / --quick):" in out and "path/to/my_task.py:NAME" in out
    assert all(f"  {name}: epochs" in out for name in ("sort-of-clevr", "sentiment", "retrieval", "captioning"))


def _user_task_file(tmp_path) -> str:
    path = tmp_path / "my_task.py"
    path.write_text(
        "from mmgraph.bench.tasks import SentimentTask\n\n"
        "class TinySentiment(SentimentTask):\n"
        "    def __init__(self):\n"
        "        super().__init__(sizes=(8, 4, 4))\n"
        "        self.name = 'tiny-sentiment'\n\n"
        "TASK = TinySentiment()\n")
    return str(path)


def test_bench_user_task_from_a_file(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["bench", f"{_user_task_file(tmp_path)}:TASK", "--quick", "--models", "concat", "--seeds", "1",
            "--epochs", "1", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "task: tiny-sentiment" in out and "results: runs/bench/tiny-sentiment-quick/results.json" in out
    assert (tmp_path / "runs" / "bench" / "tiny-sentiment-quick" / "results.json").is_file()


@pytest.mark.parametrize(
    ("spec", "message"),
    [("missing.py:TASK", "file not found"), ("{file}:NOPE", "has no attribute 'NOPE'; it defines ['TASK', 'TinySentiment']")],
)
def test_bench_user_task_errors_are_one_line(tmp_path, spec: str, message: str, capsys) -> None:
    spec = spec.format(file=_user_task_file(tmp_path))
    assert main(["bench", spec, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_cli_asks_for_models_when_a_task_names_none(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bare.py"
    path.write_text("from mmgraph.bench.tasks import SentimentTask\n\n"
                    "TASK = SentimentTask(sizes=(8, 4, 4))\nTASK.default_models = ()\nTASK.name = 'bare'\n")
    assert main(["bench", f"{path}:TASK", "--quick", "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert "task 'bare' names no default models; give --models" in capsys.readouterr().err


def test_viz_loads_the_shipped_checkpoint_of_an_earlier_layout(tmp_path, capsys) -> None:
    """docs/models' checkpoint predates one-convolution-per-layer: the shape check upgrades it first, as loading does."""
    ckpt = Path(__file__).resolve().parents[1] / "docs" / "models" / "sort-of-clevr-state-graph-relational.safetensors"
    out = tmp_path / "a.png"
    assert main(["viz", "--checkpoint", str(ckpt), "--sample", "13", "--out", str(out), "--dataset-batches", "0"]) == 0
    assert "loaded graph-relational" in capsys.readouterr().out and out.stat().st_size > 1000
