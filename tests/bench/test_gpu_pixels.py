"""benchmarks/gpu_pixels.sh: the prepared GPU check stops every job by its deadline and packs the results."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_pixels.sh"


@pytest.mark.slow
@pytest.mark.skipif(any(shutil.which(c) is None for c in ("bash", "setsid", "ps")), reason="needs bash, setsid, ps")
def test_gpu_pixels_stops_at_the_deadline_and_packs(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path), "DEVICE": "cpu", "MMGRAPH": f"{sys.executable} -m mmgraph",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", str(SCRIPT), "3"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    with tarfile.open(tmp_path / "pixels-gpu.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"pixels/rn.log", "pixels/probes/attention.log", "pixels/probes/cnn-mlp-gated.log",
            "pixels/probes/graph-relational.log", "pixels/sort-of-clevr-pixels/settings.json"} <= names
    assert not (tmp_path / "pixels").exists()  # packed, then removed
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(tmp_path) not in ps  # the split benchmark's processes were stopped with their group
