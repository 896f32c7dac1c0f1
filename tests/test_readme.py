"""The README's commands and code are the ones that work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def _setup_commands() -> list[str]:
    return [b.strip() for b in _blocks("bash") if "pip install" in b]


def test_ci_runs_the_readme_test_command() -> None:
    bash = _setup_commands()
    assert len(bash) == 2, "the README has exactly two set-up commands"
    test_cmd = next(b.strip() for b in bash if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()


def test_readme_commands_name_real_subcommands() -> None:
    from mmgraph.cli import build_parser

    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    main_cmd = next(b for b in _setup_commands() if "pytest" not in b)
    assert main_cmd.rsplit(".venv/bin/mmgraph", 1)[1].split()[0] == "bench"
    others = [b.strip() for b in _blocks("bash") if "pip install" not in b]
    assert any(".venv/bin/mmgraph viz" in b for b in others), "the README shows how to get a picture"
    for cmd in others:
        assert cmd.split(".venv/bin/mmgraph", 1)[1].split()[0] in choices


@pytest.mark.slow  # a subprocess that trains
def test_readme_python_example_runs() -> None:
    (code,) = _blocks("python")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "graph-gat" in result.stdout and "torch.Size([7, 384])" in result.stdout
