"""The API reference builds from the docstrings without warnings (mkdocs --strict)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mkdocs_builds_the_reference(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    api = (site / "api" / "index.html").read_text()
    for name in ("GraphBuilder", "HeteroGNN", "to_networkx", "attention_rollout", "modality_importance", "fit"):
        assert name in api, f"{name} missing from the API reference"
    assert "Graph building" in api and (site / "guide" / "index.html").is_file()
