"""mmgraph.bench.results and .machine: run store round trips, resuming, atomic writes, corrupt files,
aggregation over seeds, the results.json schema, machine facts and peak memory."""

from __future__ import annotations

import json
import math
import os
import platform
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from mmgraph.bench.machine import machine_facts, peak_memory_mb, reset_peak_memory
from mmgraph.bench.results import (
    RunRecord,
    RunStore,
    aggregate,
    mean_std,
    read_results,
    validate_results,
    write_results,
)


def make_record(model: str = "graph-gat", seed: int = 0, **overrides) -> RunRecord:
    fields = dict(
        model=model,
        seed=seed,
        lr=1e-3,
        params=1234,
        metrics={"acc": 0.9, "mae": 0.5},
        train_s_per_epoch=1.5,
        infer_samples_per_s=2000.0,
        peak_mem_mb=300.0,
        epochs_run=10,
        best_epoch=7,
        extra={"history": [{"epoch": 1, "val_acc": 0.5}]},
    )
    fields.update(overrides)
    return RunRecord(**fields)


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --------------------------------------------------------------------------- RunRecord


@pytest.mark.parametrize("extra", [{}, {"val": {"acc": 0.8}, "history": [1.0, 2.0], "note": "x"}])
def test_record_round_trip_through_store(tmp_path, extra):
    record = make_record(seed=3, lr=3e-4, metrics={"acc2": 0.77, "f1": 0.76, "mae": 0.91}, extra=extra)
    store = RunStore(tmp_path)
    path = store.save(record)
    assert path == tmp_path / "runs" / "graph-gat__seed3.json"
    loaded = store.load("graph-gat", 3)
    assert loaded == record
    assert loaded.lr == 3e-4 and loaded.metrics == {"acc2": 0.77, "f1": 0.76, "mae": 0.91}
    assert RunRecord.from_dict(json.loads(path.read_text())) == record


def test_record_normalises_numpy_scalars_and_rejects_wrong_types():
    record = make_record(seed=np.int64(2), params=np.int64(10), lr=np.float32(0.5), metrics={"acc": np.float32(0.25)})
    assert type(record.seed) is int and type(record.params) is int
    assert type(record.lr) is float and type(record.metrics["acc"]) is float and record.metrics["acc"] == 0.25
    json.dumps(record.to_dict())  # plain Python types only
    with pytest.raises(ValueError, match="seed: expected an int"):
        make_record(seed=1.5)
    with pytest.raises(ValueError, match="params: expected an int >= 0"):
        make_record(params=-1)
    with pytest.raises(ValueError, match=r"metrics\['acc'\]: expected a number"):
        make_record(metrics={"acc": "high"})
    with pytest.raises(ValueError, match="lr: expected a number"):
        make_record(lr=True)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d.pop("metrics"), r"missing keys \['metrics'\]"),
        (lambda d: d.update(colour="red"), r"unknown keys \['colour'\]"),
        (lambda d: d.update(best_epoch="7"), "best_epoch: expected an int"),
    ],
)
def test_record_from_dict_errors(change, match):
    data = make_record().to_dict()
    change(data)
    with pytest.raises(ValueError, match=match):
        RunRecord.from_dict(data)


def test_record_from_dict_extra_optional():
    data = make_record().to_dict()
    del data["extra"]
    assert RunRecord.from_dict(data).extra == {}


# --------------------------------------------------------------------------- RunStore


def test_store_resumes_after_reopening(tmp_path):
    store = RunStore(tmp_path / "bench")
    assert store.records() == [] and not store.has("concat", 0)
    saved = [make_record("late", 1), make_record("concat", 2), make_record("concat", 0), make_record("late", 0)]
    for r in saved:
        store.save(r)
    reopened = RunStore(tmp_path / "bench")
    assert reopened.has("concat", 0) and reopened.has("late", 1)
    assert not reopened.has("concat", 1) and not reopened.has("graph-gat", 0)
    assert reopened.load("concat", 2) == saved[1]
    assert [(r.model, r.seed) for r in reopened.records()] == [("concat", 0), ("concat", 2), ("late", 0), ("late", 1)]
    with pytest.raises(FileNotFoundError, match="no.*saved.*model.*'concat'.*1"):
        reopened.load("concat", 1)


def test_store_save_overwrites_same_run(tmp_path):
    store = RunStore(tmp_path)
    store.save(make_record(metrics={"acc": 0.1}))
    store.save(make_record(metrics={"acc": 0.2}))
    assert store.load("graph-gat", 0).metrics == {"acc": 0.2}
    assert files_in(tmp_path / "runs") == ["graph-gat__seed0.json"]


@pytest.mark.parametrize("model", ["", "../escape", "a/b", ".hidden", "with space", 3])
def test_store_rejects_unsafe_model_names(tmp_path, model):
    with pytest.raises(ValueError, match="model: expected a name"):
        RunStore(tmp_path).has(model, 0)


def test_save_is_atomic(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    original = make_record(metrics={"acc": 0.5})
    path = store.save(original)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        store.save(make_record(metrics={"acc": 0.9}))
    assert path.read_bytes() == before
    assert files_in(tmp_path / "runs") == ["graph-gat__seed0.json"]  # no temporary file left behind
    monkeypatch.undo()
    assert RunStore(tmp_path).load("graph-gat", 0) == original


def test_save_with_unserialisable_extra_writes_nothing(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(ValueError, match="must be JSON-serialisable"):
        store.save(make_record(extra={"model": object()}))
    assert not store.has("graph-gat", 0)
    assert not (tmp_path / "runs").exists() or files_in(tmp_path / "runs") == []


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "invalid JSON"),
        (b'{"model": "graph-gat", "seed": 0, "lr"', "invalid JSON"),  # cut off mid-write
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"model": "graph-gat", "seed": 0}', "missing keys"),
    ],
)
def test_corrupt_run_file_names_the_file(tmp_path, content, match):
    store = RunStore(tmp_path)
    store.save(make_record())
    path = store.path("graph-gat", 0)
    path.write_bytes(content)
    pattern = rf"corrupt run file '{re.escape(str(path))}': .*{match}"
    with pytest.raises(ValueError, match=pattern):
        store.load("graph-gat", 0)
    with pytest.raises(ValueError, match=pattern):
        store.records()


def test_run_file_holding_another_run_is_an_error(tmp_path):
    store = RunStore(tmp_path)
    store.save(make_record("concat", 1))
    os.rename(store.path("concat", 1), store.path("concat", 2))
    with pytest.raises(ValueError, match=r"concat__seed2\.json.*holds model 'concat' seed 1"):
        store.load("concat", 2)
    with pytest.raises(ValueError, match=r"holds.*'concat'.*1.*belongs.*'concat__seed1\.json'"):
        store.records()


def test_records_skip_leftover_temporary_files(tmp_path):
    store = RunStore(tmp_path)
    store.save(make_record())
    (tmp_path / "runs" / ".graph-gat__seed1.json.abc.tmp").write_text("{")
    (tmp_path / "runs" / ".x.json").write_text("{")
    assert [(r.model, r.seed) for r in store.records()] == [("graph-gat", 0)]


def test_sweep_round_trip(tmp_path):
    store = RunStore(tmp_path)
    assert store.load_sweep("concat") is None
    sweep = {3e-3: 0.71, 1e-4: 0.65, 1e-3: float("nan")}
    path = store.save_sweep("concat", sweep)
    assert path == tmp_path / "sweeps" / "concat.json"
    loaded = RunStore(tmp_path).load_sweep("concat")
    assert list(loaded) == [1e-4, 1e-3, 3e-3]  # sorted by lr, exact float keys
    assert loaded[1e-4] == 0.65 and loaded[3e-3] == 0.71 and math.isnan(loaded[1e-3])
    assert store.load_sweep("late") is None


@pytest.mark.parametrize("content", ["{", '{"model": "concat", "results": [[0.1]]}', '{"model": "late", "results": []}'])
def test_corrupt_sweep_file(tmp_path, content):
    store = RunStore(tmp_path)
    store.save_sweep("concat", {0.1: 0.5})
    store.sweep_path("concat").write_text(content)
    with pytest.raises(ValueError, match=r"corrupt sweep file '.*concat\.json'"):
        store.load_sweep("concat")


def test_save_sweep_rejects_empty(tmp_path):
    with pytest.raises(ValueError, match="non-empty dict"):
        RunStore(tmp_path).save_sweep("concat", {})


# --------------------------------------------------------------------------- aggregation


MACHINE = {"python": "3.11", "device": "cpu"}
CONFIG = {"command": "mmgraph bench sort_of_clevr --seeds 3", "epochs": 5}


def test_mean_std_ddof():
    assert mean_std([0.7]) == (0.7, 0.0)
    mean, std = mean_std([0.9, 0.8, 0.7])
    assert mean == pytest.approx(0.8) and std == pytest.approx(0.1)  # ddof=1: sqrt((0.01+0+0.01)/2)
    mean, std = mean_std([1.0, 3.0])
    assert (mean, std) == (2.0, pytest.approx(math.sqrt(2.0)))
    mean, std = mean_std([1.0, float("nan")])
    assert math.isnan(mean) and math.isnan(std)
    with pytest.raises(ValueError, match="no values"):
        mean_std([])


def test_aggregate_one_seed():
    results = aggregate([make_record("concat", 4, metrics={"acc": 0.75})], "sort_of_clevr", CONFIG, MACHINE)
    entry = results["models"]["concat"]
    assert entry["metrics"] == {"acc": {"mean": 0.75, "std": 0.0, "runs": [0.75]}}
    assert entry["params"] == 1234 and entry["train_s_per_epoch"] == 1.5
    assert entry["infer_samples_per_s"] == 2000.0 and entry["peak_mem_mb"] == 300.0


def test_aggregate_three_seeds_by_hand():
    records = [  # deliberately out of seed order
        make_record("gat", 2, metrics={"acc": 0.7, "mae": 0.6}, params=103, train_s_per_epoch=3.0,
                    infer_samples_per_s=30.0, peak_mem_mb=130.0),
        make_record("gat", 0, metrics={"acc": 0.9, "mae": 0.2}, params=100, train_s_per_epoch=1.0,
                    infer_samples_per_s=10.0, peak_mem_mb=110.0),
        make_record("gat", 1, metrics={"acc": 0.8, "mae": 0.4}, params=101, train_s_per_epoch=2.0,
                    infer_samples_per_s=20.0, peak_mem_mb=120.0),
        make_record("concat", 0, metrics={"acc": 0.5, "mae": 1.0}),
    ]
    results = aggregate(records, "sort_of_clevr", CONFIG, MACHINE)
    assert list(results["models"]) == ["gat", "concat"]  # order of first appearance
    gat = results["models"]["gat"]
    assert gat["metrics"]["acc"]["runs"] == [0.9, 0.8, 0.7]  # seed order
    assert gat["metrics"]["acc"]["mean"] == pytest.approx(0.8)
    assert gat["metrics"]["acc"]["std"] == pytest.approx(0.1)
    assert gat["metrics"]["mae"]["runs"] == [0.2, 0.4, 0.6]
    assert gat["metrics"]["mae"]["mean"] == pytest.approx(0.4)
    assert gat["metrics"]["mae"]["std"] == pytest.approx(0.2)
    assert gat["params"] == 101 and type(gat["params"]) is int  # round(101.33)
    assert gat["train_s_per_epoch"] == pytest.approx(2.0)
    assert gat["infer_samples_per_s"] == pytest.approx(20.0)
    assert gat["peak_mem_mb"] == pytest.approx(120.0)


def test_aggregate_schema_and_json_round_trip(tmp_path):
    records = [make_record(m, s, metrics={"acc2": 0.7 + s / 100, "mae": 0.9}) for m in ("late", "concat") for s in (0, 1)]
    results = aggregate(records, "sentiment", CONFIG, MACHINE)
    assert set(results) == {"task", "config", "machine", "models"}
    assert results["task"] == "sentiment" and results["config"] == CONFIG and results["machine"] == MACHINE
    for entry in results["models"].values():
        assert set(entry) == {"params", "metrics", "train_s_per_epoch", "infer_samples_per_s", "peak_mem_mb"}
        assert type(entry["params"]) is int
        for key in ("train_s_per_epoch", "infer_samples_per_s", "peak_mem_mb"):
            assert type(entry[key]) is float
        for stat in entry["metrics"].values():
            assert set(stat) == {"mean", "std", "runs"}
            assert type(stat["mean"]) is float and type(stat["std"]) is float
            assert all(type(v) is float for v in stat["runs"]) and len(stat["runs"]) == 2
    assert json.loads(json.dumps(results)) == results
    path = write_results(tmp_path / "out", results)
    assert path == tmp_path / "out" / "results.json"
    assert json.loads(path.read_text()) == results
    assert read_results(tmp_path / "out") == results
    assert read_results(path) == results


@pytest.mark.parametrize(
    "records, match",
    [
        ([], "no runs"),
        ([make_record("a", 0), make_record("a", 0)], "model 'a' has seed 0 twice"),
        ([make_record("a", 0), make_record("a", 1, metrics={"acc": 1.0})], "runs of model 'a' have different metrics"),
        ([{"model": "a"}], "expected RunRecord items"),
    ],
)
def test_aggregate_errors(records, match):
    with pytest.raises(ValueError, match=match):
        aggregate(records, "sort_of_clevr", CONFIG, MACHINE)


def test_write_results_is_atomic_and_validates(tmp_path, monkeypatch):
    results = aggregate([make_record()], "sort_of_clevr", CONFIG, MACHINE)
    path = write_results(tmp_path, results)
    before = path.read_bytes()
    def broken_replace(src, dst):
        raise OSError("no space")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="no space"):
        write_results(tmp_path, {**results, "task": "other"})
    monkeypatch.undo()
    assert path.read_bytes() == before and files_in(tmp_path) == ["results.json"]
    with pytest.raises(ValueError, match=r"expected exactly the keys"):
        write_results(tmp_path, {**results, "extra": 1})
    bad = json.loads(json.dumps(results))
    bad["models"]["graph-gat"]["metrics"]["acc"]["runs"] = []
    with pytest.raises(ValueError, match=r"\['metrics'\]\['acc'\]\['runs'\]"):
        validate_results(bad)


def test_read_results_corrupt(tmp_path):
    (tmp_path / "results.json").write_text('{"task": "x"')
    with pytest.raises(ValueError, match=r"corrupt results file '.*results\.json': invalid JSON"):
        read_results(tmp_path)
    (tmp_path / "results.json").write_text('{"task": "x"}')
    with pytest.raises(ValueError, match=r"corrupt.*results.*'.*results\.json':.*results:.*exactly"):
        read_results(tmp_path)


# --------------------------------------------------------------------------- machine


def test_machine_facts_keys_and_types():
    facts = machine_facts("cpu")
    expected = {
        "python": str, "torch": str, "torch_geometric": str, "mmgraph": str, "platform": str,
        "logical_cores": int, "torch_threads": int, "device": str,
    }
    for key, kind in expected.items():
        assert isinstance(facts[key], kind), (key, facts[key])
    assert set(facts) == set(expected) | {"processor", "memory_gib", "cuda", "gpu_memory_gib"}
    assert facts["device"] == "cpu" and facts["cuda"] is None and facts["gpu_memory_gib"] is None
    assert facts["python"].startswith("{}.{}.".format(*sys.version_info[:2]))
    assert facts["processor"] is None or isinstance(facts["processor"], str)
    assert facts["memory_gib"] is None or (isinstance(facts["memory_gib"], float) and facts["memory_gib"] > 0)
    assert facts["logical_cores"] >= 1 and facts["torch_threads"] >= 1
    host = platform.node()
    assert not host or host not in json.dumps(facts)  # no host name


def test_peak_memory_mb_cpu():
    resource = pytest.importorskip("resource")
    reset_peak_memory("cpu")  # a no-op on the CPU
    peak = peak_memory_mb("cpu")
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert isinstance(peak, float) and peak > 10.0  # the interpreter with torch loaded
    if sys.platform.startswith("linux"):
        assert peak == pytest.approx(rss_kib / 1024, rel=0.05)


def test_machine_facts_rejects_bad_device():
    with pytest.raises(ValueError, match="device: not a valid torch device"):
        machine_facts("nonsense")


def test_cuda_branches_with_a_fake_gpu(monkeypatch):
    import types

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(
        torch.cuda, "get_device_properties", lambda dev: types.SimpleNamespace(name="Fake GPU", total_memory=3 * 2**30)
    )
    seen = []
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda dev: seen.append(dev) or 5 * 2**20)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda dev: seen.append(("reset", dev)))
    facts = machine_facts()  # None: the GPU when CUDA is available
    assert facts["device"] == "Fake GPU" and facts["gpu_memory_gib"] == 3.0
    assert machine_facts("cpu")["device"] == "cpu"
    assert peak_memory_mb() == 5.0  # CUDA in use: its peak allocation, not the process RSS
    assert peak_memory_mb("cuda:0") == 5.0
    reset_peak_memory("cuda")
    assert seen == [torch.device("cuda", 0), torch.device("cuda", 0), ("reset", torch.device("cuda", 0))]
