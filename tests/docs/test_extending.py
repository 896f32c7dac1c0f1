"""The Python blocks of docs/extending.md run, in order, in a fresh process (its registrations stay there)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "extending.md").read_text()


@pytest.mark.slow  # a subprocess
def test_extending_examples_run_and_print_what_they_say() -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE, flags=re.S)
    assert len(blocks) == 5  # the setup, then an edge strategy, a convolution, a model and a task
    script = "\n".join(blocks)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    expected = [c.strip() for c in re.findall(r"print\(.*\)  # (.*)", script)]
    assert len(lines) == len(expected) == 4
    assert lines == expected  # edge count, output shapes and model names, as the comments say
