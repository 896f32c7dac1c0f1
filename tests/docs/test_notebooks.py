"""Every notebook in docs/notebooks runs top to bottom (with small sizes) and its saved copy shows pictures."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "docs" / "notebooks").glob("*.ipynb"))


def test_the_four_notebooks_exist() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert [n[:3] for n in names] == ["01_", "02_", "03_", "04_"], names


def test_your_own_data_states_its_user_code_lines() -> None:
    """The template's code from arrays to table (cells starting '# your code') is as short as it says, <= 40 lines."""
    nb = nbformat.read(ROOT / "docs" / "notebooks" / "04_your_own_data.ipynb", as_version=4)
    user = [c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith("# your code")]
    lines = [ln for src in user for ln in src.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(user) >= 2 and len(lines) <= 40
    assert f"**{len(lines)} lines**" in nb.cells[0].source, f"the intro should state {len(lines)} lines"
    assert "import mmgraph" in user[0] and "mg.bench.run" in "".join(user)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_copy_shows_pictures(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert images, f"{path.name} was saved without its figures: run it and save the outputs"
    assert not errors, f"{path.name} was saved with an error output"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MMGRAPH_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MMGRAPH_NOTEBOOK_THREADS", "1")
    monkeypatch.setenv("MMGRAPH_NOTEBOOK_OUT", str(tmp_path))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, f"{path.name} produced no figure"
