"""benchmarks/split_runs.sh: one benchmark as parallel processes sharing --out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "split_runs.sh"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_split_runs_trains_every_seed_with_one_sweep(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "MMGRAPH": f"{sys.executable} -m mmgraph", "OMP_NUM_THREADS": "1"}
    args = ["sort-of-clevr", "--quick", "--epochs", "1", "--lrs", "1e-3,3e-3", "--sweep-epochs", "1",
            "--threads", "1", "--no-progress"]
    done = subprocess.run(["bash", str(SCRIPT), str(out), "concat", "2", *args], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr + done.stdout
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["concat__seed0.json", "concat__seed1.json"]
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["concat-0.log", "concat-1.log"]
    assert "sweep concat" in (out / "logs" / "concat-0.log").read_text()
    assert "sweep concat" not in (out / "logs" / "concat-1.log").read_text()  # it waited for seed 0's sweep
    lrs = {json.loads(p.read_text())["lr"] for p in (out / "runs").iterdir()}
    assert len(lrs) == 1
    results = json.loads((out / "results.json").read_text())
    assert len(results["models"]["concat"]["metrics"]["acc"]["runs"]) == 2
    assert "--models concat --seeds 2" in results["config"]["command"]


def test_split_runs_usage() -> None:
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Usage: benchmarks/split_runs.sh OUT MODELS SEEDS TASK" in done.stdout
