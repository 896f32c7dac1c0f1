"""The benchmark runner: budgets, sweeps, resumable runs, results files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mmgraph.bench.runner import BenchConfig, build_model, match_budget, run_benchmark, training_memory_mb
from mmgraph.bench.tasks import SortOfCLEVRTask
from mmgraph.train.fit import default_loss


def _task() -> SortOfCLEVRTask:
    task = SortOfCLEVRTask("state", sizes=(3, 2, 2))
    task.load(quick=True)
    return task


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["concat", "attention", "graph-gcn"])
def test_match_budget_is_closest_multiple_of_step(name: str) -> None:
    task = _task()
    target = _params(build_model(task, "graph-relational", 32))
    hidden, params = match_budget(task, name, target)
    assert params == _params(build_model(task, name, hidden))
    for other in (hidden - 8, hidden + 8):
        if other >= 8:
            assert abs(params - target) <= abs(_params(build_model(task, name, other)) - target)


def test_training_memory_counts_saved_activations() -> None:
    task = _task()
    batch = next(iter(task.batches("train", 8, shuffle=False)))
    bigger = next(iter(task.batches("train", 32, shuffle=False)))
    model = build_model(task, "concat", 16)
    small, large = (training_memory_mb(model, b, default_loss("classification")) for b in (batch, bigger))
    params_mb = 4 * _params(model) * 4 / 2**20
    assert params_mb < small < large  # activations grow with the batch
    assert all(p.grad is None for p in model.parameters())  # leaves no gradients behind


def test_config_errors() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        BenchConfig(models=["nope"])
    with pytest.raises(ValueError, match="epochs:.*positive.*int.*0"):
        BenchConfig(models=["concat"], epochs=0)
    with pytest.raises(ValueError, match="lrs: expected positive"):
        BenchConfig(models=["concat"], lrs=(0.0,))
    with pytest.raises(ValueError, match=r"scheduler: expected one of \['cosine', 'none'\], got 'step'"):
        BenchConfig(models=["concat"], scheduler="step")
    assert BenchConfig(models=["concat", "graph-gat"]).reference == "graph-gat"


def test_scheduler_reaches_every_run(tmp_path: Path) -> None:
    task = SortOfCLEVRTask("state", sizes=(3, 2, 2))
    rates = {}
    for scheduler in ("none", "cosine"):
        cfg = BenchConfig(models=["concat"], seeds=[0], epochs=2, batch_size=32, hidden=8, lrs=(1e-3,),
                          scheduler=scheduler, quick=True)
        out = tmp_path / scheduler
        run_benchmark(task, cfg, out, command="test", progress=False, say=lambda _: None)
        history = json.loads((out / "runs" / "concat__seed0.json").read_text())["extra"]["history"]
        rates[scheduler] = [row["lr"] for row in history]
    assert rates["none"] == [1e-3, 1e-3]  # constant
    assert rates["cosine"][1] < rates["cosine"][0]  # decays


def test_folders_recorded_before_the_scheduler_setting_stay_valid(tmp_path: Path) -> None:
    task = SortOfCLEVRTask("state", sizes=(3, 2, 2))
    cfg = BenchConfig(models=["concat"], seeds=[0], epochs=1, batch_size=32, hidden=8, lrs=(1e-3,), quick=True)
    run_benchmark(task, cfg, tmp_path, command="test", progress=False, say=lambda _: None)
    settings = next(p for p in tmp_path.iterdir() if p.suffix == ".json" and "settings" in p.name)
    assert "scheduler" not in json.loads(settings.read_text())  # the default is stored as before
    run_benchmark(task, cfg, tmp_path, command="test", progress=False, say=lambda _: None)  # no error
    constant = BenchConfig(**{**cfg.__dict__, "scheduler": "none"})
    with pytest.raises(ValueError, match="other settings.*scheduler"):
        run_benchmark(task, constant, tmp_path, command="test", progress=False, say=lambda _: None)


def test_run_writes_results_and_resumes(tmp_path: Path) -> None:
    task = SortOfCLEVRTask("state", sizes=(3, 2, 2))
    cfg = BenchConfig(models=["graph-gcn", "concat"], seeds=[0, 1], epochs=1, batch_size=32, hidden=8,
                      lrs=(1e-3, 3e-3), sweep_epochs=1, quick=True)
    lines: list[str] = []
    results = run_benchmark(task, cfg, tmp_path, command="mmgraph bench test", progress=False, say=lines.append)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert set(results["models"]) == {"graph-gcn", "concat"}
    for entry in results["models"].values():
        assert set(entry["metrics"]) == {"acc", "acc_relational", "acc_nonrelational"}
        assert len(entry["metrics"]["acc"]["runs"]) == 2
        assert entry["params"] > 0 and entry["train_s_per_epoch"] > 0 and entry["infer_samples_per_s"] > 0
    assert results["config"]["command"] == "mmgraph bench test"
    assert (tmp_path / "results.md").exists() and (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert results["config"]["plateau"] == SortOfCLEVRTask.PLATEAU  # the report counts the seeds that left it
    assert "| left the plateau |" in (tmp_path / "results.md").read_text()
    assert sum("sweep" in line for line in lines) == 4  # 2 models x 2 learning rates
    run = json.loads((tmp_path / "runs" / "concat__seed1.json").read_text())
    assert [row["epoch"] for row in run["extra"]["history"]] == [1]  # the learning curve is kept
    assert {"train_loss", "val_acc", "lr"} <= set(run["extra"]["history"][0])
    # and where each epoch ran (a resumed run may finish on another machine)
    assert run["extra"]["history"][0]["processor"] == run["extra"]["machine"]["processor"]
    assert run["extra"]["history"][0]["device"] == "cpu"
    assert run["extra"]["history"][0]["torch_threads"] == run["extra"]["machine"]["torch_threads"]
    # a second run keeps every finished (model, seed) and the sweeps
    again: list[str] = []
    results2 = run_benchmark(task, cfg, tmp_path, command="mmgraph bench test", progress=False, say=again.append)
    assert sum("done earlier" in line for line in again) == 4 and not any("sweep" in line for line in again)
    assert results2["models"] == results["models"]


def test_runs_are_deterministic(tmp_path: Path) -> None:
    cfg = BenchConfig(models=["concat"], seeds=[0], epochs=1, batch_size=16, hidden=8, lrs=(1e-3,), quick=True)
    a = run_benchmark(SortOfCLEVRTask("state", sizes=(2, 1, 1)), cfg, tmp_path / "a", progress=False, say=lambda s: None)
    b = run_benchmark(SortOfCLEVRTask("state", sizes=(2, 1, 1)), cfg, tmp_path / "b", progress=False, say=lambda s: None)
    assert a["models"]["concat"]["metrics"] == b["models"]["concat"]["metrics"]


def test_an_interrupted_run_resumes_from_its_last_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mmgraph.bench.runner as runner

    class Interrupt(Exception):
        pass

    def stop(record: dict) -> None:
        if record["epoch"] == 2:
            raise Interrupt

    cfg = BenchConfig(models=["concat"], seeds=[0], epochs=3, batch_size=16, hidden=8, lrs=(1e-3,), quick=True)
    whole = run_benchmark(SortOfCLEVRTask("state", sizes=(3, 1, 1)), cfg, tmp_path / "whole", progress=False,
                          say=lambda s: None)
    real_fit = runner.fit
    monkeypatch.setattr(runner, "fit", lambda *a, **kw: real_fit(*a, **{**kw, "log": stop}))
    with pytest.raises(Interrupt):
        run_benchmark(SortOfCLEVRTask("state", sizes=(3, 1, 1)), cfg, tmp_path / "cut", progress=False,
                      say=lambda s: None)
    assert (tmp_path / "cut" / "partial" / "concat__seed0" / "resume.pt").exists()
    epochs: list[int] = []
    monkeypatch.setattr(runner, "fit",
                        lambda *a, **kw: real_fit(*a, **{**kw, "log": lambda r: epochs.append(r["epoch"])}))
    resumed = run_benchmark(SortOfCLEVRTask("state", sizes=(3, 1, 1)), cfg, tmp_path / "cut", progress=False,
                            say=lambda s: None)
    assert epochs == [3]  # only the epoch that was not finished
    assert resumed["models"]["concat"]["metrics"] == whole["models"]["concat"]["metrics"]
    assert not (tmp_path / "cut" / "partial").exists()  # removed once the run is saved


def test_resuming_with_other_settings_is_refused(tmp_path: Path) -> None:
    task = SortOfCLEVRTask("state", sizes=(2, 1, 1))
    cfg = BenchConfig(models=["concat"], seeds=[0], epochs=1, batch_size=16, hidden=8, lrs=(1e-3,), quick=True)
    run_benchmark(task, cfg, tmp_path, progress=False, say=lambda s: None)
    more = BenchConfig(models=["concat", "late"], seeds=[0, 1], epochs=1, batch_size=16, hidden=8, lrs=(1e-3,),
                       quick=True)
    run_benchmark(SortOfCLEVRTask("state", sizes=(2, 1, 1)), more, tmp_path, progress=False, say=lambda s: None)
    changed = BenchConfig(models=["concat"], seeds=[0], epochs=2, batch_size=16, hidden=8, lrs=(1e-3,), quick=True)
    with pytest.raises(ValueError, match=r"holds.*\(epochs:.*1.*2.*now\)"):
        run_benchmark(SortOfCLEVRTask("state", sizes=(2, 1, 1)), changed, tmp_path, progress=False, say=lambda s: None)


def test_subsets_of_models_share_the_reference_budget(tmp_path: Path) -> None:
    """Two invocations with disjoint models (e.g. two processes) and one reference: one budget, one folder."""
    common = dict(seeds=[0], epochs=1, batch_size=16, hidden=8, lrs=(1e-3,), quick=True, reference="graph-gcn")
    first = BenchConfig(models=["concat"], **common)
    second = BenchConfig(models=["late", "graph-gcn"], **common)
    run = lambda cfg: run_benchmark(SortOfCLEVRTask("state", sizes=(2, 1, 1)), cfg, tmp_path, progress=False,  # noqa: E731
                                    say=lambda s: None)
    a, b = run(first), run(second)
    target = b["models"]["graph-gcn"]["params"]
    assert a["config"]["widths"]["concat"] == match_budget(_task(), "concat", target)[0]
    both = run(BenchConfig(models=["concat", "late", "graph-gcn"], **common))
    assert set(both["models"]) == {"concat", "late", "graph-gcn"}
    assert both["models"]["concat"] == a["models"]["concat"]


def test_unknown_reference_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown model\(s\) \['nope'\]"):
        BenchConfig(models=["concat"], reference="nope")


def test_budget_is_pinned_by_the_first_invocation(tmp_path: Path) -> None:
    cfg = BenchConfig(models=["concat"], seeds=[0], epochs=1, batch_size=16, hidden=8, lrs=(1e-3,), quick=True,
                      reference="graph-gcn")
    run = lambda: run_benchmark(SortOfCLEVRTask("state", sizes=(2, 1, 1)), cfg, tmp_path, progress=False,  # noqa: E731
                                say=lines.append)
    lines: list[str] = []
    first = run()
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["budget"] == first["config"]["budget"] == _params(build_model(_task(), "graph-gcn", 8))
    # the reference changes later (here: the stored budget is edited): widths follow the stored budget
    settings["budget"] = 3 * settings["budget"]
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    (tmp_path / "runs" / "concat__seed0.json").unlink()
    lines.clear()
    second = run()
    assert second["config"]["budget"] == settings["budget"]
    assert second["config"]["widths"]["concat"] == match_budget(_task(), "concat", settings["budget"])[0]
    assert second["config"]["widths"]["concat"] > first["config"]["widths"]["concat"]
    assert "graph-gcn has" in lines[0]  # the reference's own count is reported


def test_results_aggregate_every_finished_run_and_list_the_missing(tmp_path: Path) -> None:
    common = dict(seeds=[0], epochs=1, batch_size=16, hidden=8, lrs=(1e-3,), quick=True, reference="graph-gcn")
    run = lambda cfg, **kw: run_benchmark(SortOfCLEVRTask("state", sizes=(2, 1, 1)), cfg, tmp_path,  # noqa: E731
                                          progress=False, say=lambda s: None, **kw)
    first = run(BenchConfig(models=["concat"], **common))
    second = run(BenchConfig(models=["late"], **common))  # another process, same folder
    assert set(second["models"]) == {"concat", "late"}  # the folder's results, not just this invocation's
    assert second["models"]["concat"] == first["models"]["concat"]
    assert "graph-relational/0" in second["config"]["missing"] and "concat/0" not in second["config"]["missing"]
    assert second["config"]["widths"]["concat"] == first["config"]["widths"]["concat"]
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert set(on_disk["models"]) == {"concat", "late"}


def test_report_only_trains_nothing(tmp_path: Path) -> None:
    common = dict(seeds=[0, 1], epochs=1, batch_size=16, hidden=8, lrs=(1e-3,), quick=True, reference="graph-gcn")
    task = SortOfCLEVRTask("state", sizes=(2, 1, 1))
    run_benchmark(task, BenchConfig(models=["concat"], **{**common, "seeds": [0]}), tmp_path, progress=False,
                  say=lambda s: None)
    said: list[str] = []
    out = run_benchmark(task, BenchConfig(models=["concat", "late"], **common), tmp_path, progress=False,
                        say=said.append, report_only=True)
    assert list(out["models"]) == ["concat"] and len(out["models"]["concat"]["metrics"]["acc"]["runs"]) == 1
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["concat__seed0.json"]
    assert any("not finished yet" in s and "concat/1" in s and "late/0" in s for s in said)
    with pytest.raises(ValueError, match="no.*finished.*\\[5\\]:.*nothing.*report"):
        run_benchmark(task, BenchConfig(models=["late"], **{**common, "seeds": [5]}), tmp_path, progress=False,
                      say=lambda s: None, report_only=True)


def test_runs_record_their_machine_and_the_report_uses_it(tmp_path: Path) -> None:
    """Runs trained elsewhere (e.g. on a GPU machine) keep their machine when the report is written here."""
    cfg = BenchConfig(models=["concat"], seeds=[0, 1], epochs=1, batch_size=16, hidden=8, lrs=(1e-3,), quick=True)
    first = run_benchmark(SortOfCLEVRTask("state", sizes=(2, 1, 1)), cfg, tmp_path, progress=False,
                          say=lambda s: None, device="cpu")
    record = json.loads((tmp_path / "runs" / "concat__seed0.json").read_text())
    assert record["extra"]["machine"] == first["machine"] and first["machine"]["device"] == "cpu"
    assert "run_machines" not in first["config"]
    # pretend both runs were trained on another machine: the report describes that one
    elsewhere = {**record["extra"]["machine"], "device": "NVIDIA H200", "cuda": "13.0", "logical_cores": 16}
    for seed in (0, 1):
        path = tmp_path / "runs" / f"concat__seed{seed}.json"
        data = json.loads(path.read_text())
        data["extra"]["machine"] = elsewhere
        path.write_text(json.dumps(data))
    report = run_benchmark(SortOfCLEVRTask("state", sizes=(2, 1, 1)), cfg, tmp_path, progress=False,
                           say=lambda s: None, report_only=True)
    assert report["machine"] == elsewhere and "run_machines" not in report["config"]
    # runs from two machines: the more common one is the report's, and both are listed
    path = tmp_path / "runs" / "concat__seed1.json"
    data = json.loads(path.read_text())
    data["extra"]["machine"] = first["machine"]
    path.write_text(json.dumps(data))
    three = BenchConfig(models=["concat"], seeds=[0, 1, 2], epochs=1, batch_size=16, hidden=8, lrs=(1e-3,),
                        quick=True)
    mixed = run_benchmark(SortOfCLEVRTask("state", sizes=(2, 1, 1)), three, tmp_path, progress=False,
                          say=lambda s: None)  # trains seed 2 here
    assert mixed["machine"]["device"] == "cpu"
    assert [m["device"] for m in mixed["config"]["run_machines"]] == ["NVIDIA H200", "cpu"]
    assert mixed["config"]["run_devices"] == {"concat": "NVIDIA H200, cpu"}
    assert "compare only between models run on the same device" in (tmp_path / "results.md").read_text()


@pytest.mark.parametrize("device, match", [("cuda:0", "CUDA is not available"), ("tpu9", "not a valid torch device")])
def test_unavailable_device_is_refused(tmp_path: Path, device: str, match: str) -> None:
    if device.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    cfg = BenchConfig(models=["concat"], seeds=[0], epochs=1, batch_size=16, hidden=8, lrs=(1e-3,), quick=True)
    with pytest.raises(ValueError, match=match):
        run_benchmark(SortOfCLEVRTask("state", sizes=(2, 1, 1)), cfg, tmp_path, progress=False, say=lambda s: None,
                      device=device)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_two_processes_sharing_an_out_folder_share_the_runs(tmp_path: Path) -> None:
    """The second process waits for the lock of the run the first is training, then keeps its result."""
    import subprocess
    import sys

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mmgraph", "bench", "sort-of-clevr", "--quick", "--models", "concat", "--seeds", "1",
           "--out", str(out), "--no-progress", "--threads", "1"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
             for _ in range(2)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    kept = ("done by another process, kept", "done earlier, kept")  # the second started while or after the first ran
    assert sum(any(k in log for k in kept) for log in logs) == 1, logs
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["concat__seed0.json"]
    assert not (out / "partial").exists()


@pytest.mark.slow
def test_bench_under_torchrun_gives_the_results_of_one_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    args = ["-m", "mmgraph", "bench", "sort-of-clevr", "--input", "state", "--quick", "--models", "concat",
            "--seeds", "1", "--lrs", "0.003", "--no-progress"]
    one = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")], capture_output=True, text=True,
                         timeout=300)
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                          *args, "--out", str(tmp_path / "two")], capture_output=True, text=True, timeout=300)
    assert one.returncode == 0 and two.returncode == 0, (one.stderr + two.stderr)[-3000:]
    runs = [json.loads((tmp_path / d / "runs" / "concat__seed0.json").read_text()) for d in ("one", "two")]
    assert runs[1]["metrics"] == pytest.approx(runs[0]["metrics"], abs=1e-6)
    assert runs[1]["extra"]["machine"]["processes"] == 2
    assert two.stdout.count("concat seed 0:") == 1  # rank 0 alone reports
    assert not (tmp_path / "two" / "partial").exists()
