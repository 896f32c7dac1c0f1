"""Training on several processes: batch shards, the process group from the environment, and 2-process torchrun runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import mmgraph as mg
from mmgraph.train.distributed import from_environment, shard_index

WORKER = Path(__file__).with_name("ddp_worker.py")


def _batch(n: int, keys=None) -> mg.MultimodalBatch:
    samples = []
    for i in range(n):
        mods = {"text": torch.randn(2, 3)}
        if keys is not None:
            mods["image"] = mg.RawItem(torch.full((1, 2, 2), float(keys[i])), key=int(keys[i]))
        samples.append(mg.MultimodalSample(mods, y=i))
    return mg.collate(samples)


@pytest.mark.parametrize("n,world", [(8, 2), (7, 2), (9, 3), (1, 2)])
def test_shards_cover_every_sample_once(n: int, world: int) -> None:
    batch = _batch(n)
    parts = [shard_index(batch, r, world).tolist() for r in range(world)]
    assert sorted(sum(parts, [])) == list(range(n))
    assert all(p == sorted(p) for p in parts)
    if n >= world:
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_samples_of_one_raw_item_stay_on_one_process() -> None:
    keys = [5, 5, 5, 2, 2, 9, 9, 9, 9, 2]  # the questions of three images; image 2's are not adjacent
    batch = _batch(len(keys), keys)
    parts = [shard_index(batch, r, 2).tolist() for r in range(2)]
    assert sorted(sum(parts, [])) == list(range(len(keys)))
    for part in parts:
        for other in parts:
            if other is not part:
                assert not {keys[i] for i in part} & {keys[i] for i in other}
    assert parts == [[0, 1, 2, 3, 4, 9], [5, 6, 7, 8]]  # images in order of appearance, cut near the middle


def test_fewer_groups_than_processes_leaves_a_process_without_samples() -> None:
    batch = _batch(4, [1, 1, 1, 1])
    assert [shard_index(batch, r, 2).numel() for r in range(2)] == [4, 0]


def test_one_process_without_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert from_environment("cpu") is None
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE.*positive integer.*'two'"):
        from_environment("cpu")


def _run(model: str, out: Path, *flags: str, processes: int = 2) -> None:
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    cmd = (launch if processes > 1 else [sys.executable]) + [str(WORKER), model, str(out), *flags]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def _load(out: Path) -> tuple[dict, list[dict]]:
    ranks = [json.loads(p.read_text()) for p in sorted(out.glob("rank*.json"))]
    return torch.load(out / "weights.pt"), ranks


@pytest.mark.slow
@pytest.mark.parametrize("model", ["graph-gcn", "concat"])
def test_two_processes_train_the_weights_of_one(model: str, tmp_path: Path) -> None:
    _run(model, tmp_path / "one", processes=1)
    _run(model, tmp_path / "two", "--own-dir")  # each rank its own folder: only rank 0 may write there
    one, (ref,) = _load(tmp_path / "one")
    two, ranks = _load(tmp_path / "two")
    for key, value in one["weights"].items():
        torch.testing.assert_close(two["weights"][key], value, atol=1e-5, rtol=0)
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world"] == 2 for r in ranks)
    for r in ranks:  # metrics over both processes' predictions: those of one process
        assert r["test"] == ref["test"] and r["best_val"] == ref["best_val"]
        assert r["history"] == pytest.approx(ref["history"], abs=1e-6)
    assert {p.name for p in (tmp_path / "two" / "ckpt0").iterdir()} >= {"best.safetensors", "last.safetensors",
                                                                         "resume.pt"}
    assert list((tmp_path / "two" / "ckpt1").iterdir()) == []


@pytest.mark.slow
def test_attention_model_matches_one_process_in_losses_and_outputs(tmp_path: Path) -> None:
    # GAT's target-side attention terms get gradients that are zero in exact arithmetic (a softmax
    # is unchanged by a shift per target); AdamW turns their float noise into steps, so those
    # weights differ between the two runs while the losses and outputs do not.
    _run("graph-gat", tmp_path / "one", processes=1)
    _run("graph-gat", tmp_path / "two")
    one, (ref,) = _load(tmp_path / "one")
    two, ranks = _load(tmp_path / "two")
    assert ranks[0]["history"] == pytest.approx(ref["history"], abs=1e-5)
    torch.testing.assert_close(two["outputs"], one["outputs"], atol=1e-4, rtol=0)


@pytest.mark.slow
def test_interrupted_two_process_run_resumes_exactly(tmp_path: Path) -> None:
    _run("graph-gcn", tmp_path / "full")
    _run("graph-gcn", tmp_path / "cut", "--stop-after", "2")
    assert not (tmp_path / "cut" / "weights.pt").exists()
    _run("graph-gcn", tmp_path / "cut", "--resume")
    full, _ = _load(tmp_path / "full")
    cut, ranks = _load(tmp_path / "cut")
    for key, value in full["weights"].items():
        assert torch.equal(cut["weights"][key], value), key
    assert len(ranks[0]["history"]) == 3
    done = subprocess.run([sys.executable, str(WORKER), "graph-gcn", str(tmp_path / "cut"), "--resume"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "world_size: saved 2, got 1" in done.stderr and "--nproc-per-node=2" in done.stderr


@pytest.mark.slow
def test_a_non_finite_loss_on_one_process_stops_every_process(tmp_path: Path) -> None:
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    done = subprocess.run(launch + [str(WORKER), "concat", str(tmp_path), "--nan-on-rank1"], capture_output=True,
                          text=True, timeout=120)  # a process left waiting would hang until the timeout
    assert done.returncode != 0
    assert "the loss is nan at epoch 1, batch 0 (on some process)" in done.stderr
