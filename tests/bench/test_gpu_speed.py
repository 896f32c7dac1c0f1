"""benchmarks/gpu_speed.sh: the prepared GPU check runs its parts in turn and writes their tables under $OUT."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_speed.sh"


@pytest.mark.slow
@pytest.mark.skipif(any(shutil.which(c) is None for c in ("bash", "setsid", "timeout")), reason="needs bash, setsid, timeout")
def test_gpu_speed_writes_step_and_scaling_tables(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path), "DEVICE": "cpu", "COMPILE": "", "MODELS": "graph-gat,attention",
           "ROUNDS": "1", "SIZES": "256", "PYTHONPATH": str(ROOT),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", str(SCRIPT), "300"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr + done.stdout
    out = tmp_path / "speed"
    for batch in (256, 64):
        result = json.loads((out / "step_speed" / f"state-b{batch}-cpu" / "results.json").read_text())
        assert [r["model"] for r in result["rows"]] == ["graph-gat", "attention"]
        assert result["ratios"]["graph-gat / attention ms per step"] > 0
    scaling = json.loads((out / "scaling" / "cpu" / "results.json").read_text())
    assert {r["kind"] for r in scaling["rows"]} == {"build", "graph-build", "graph-fusion", "dense-fusion"}
    assert (out / "scaling" / "cpu" / "results.png").stat().st_size > 0
