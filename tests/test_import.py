"""``import mmgraph`` and the command line's help stay cheap: slow optional modules load only when used."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: Modules that must not load with ``import mmgraph`` or with the core API (metrics, plots, BLEU import them lazily).
SLOW = ("sklearn", "matplotlib", "nltk")


def _loaded_after(code: str) -> set[str]:
    """Top-level package names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return set(result.stdout.splitlines()[-1].split())


def test_import_mmgraph_loads_no_slow_module() -> None:
    loaded = _loaded_after("import mmgraph")
    assert not loaded & set(SLOW), f"import mmgraph loaded {sorted(loaded & set(SLOW))}"
    assert "torch" not in loaded  # the package's names are imported on first use


@pytest.mark.slow  # a fresh interpreter that imports torch
def test_core_api_loads_no_slow_module() -> None:
    code = ("import mmgraph as mg\n"
            "mg.MultimodalBatch, mg.GraphBuilder, mg.edges, mg.collate, mg.seed_everything\n"
            "assert 'graph-gat' in mg.list_models() and mg.list_models(None)\n"
            "import mmgraph.train, mmgraph.retrieval, mmgraph.captioning, mmgraph.datasets, mmgraph.bench\n"
            "import mmgraph.bench.load, mmgraph.cli")
    loaded = _loaded_after(code)
    assert "torch" in loaded
    assert not loaded & set(SLOW), f"the core API loaded {sorted(loaded & set(SLOW))}"


@pytest.mark.parametrize("argv", [["--help"], ["bench", "frobnicate"], ["nope"]])
def test_cli_help_and_argument_errors_import_no_torch(argv: list[str]) -> None:
    code = (f"from mmgraph.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass")
    loaded = _loaded_after(code)
    assert not loaded & {"torch", "torch_geometric", "numpy", *SLOW}


def test_lazy_names_match_all() -> None:
    import mmgraph

    for name in mmgraph.__all__:
        assert getattr(mmgraph, name) is not None, name
        assert name in dir(mmgraph)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mmgraph.nope  # noqa: B018
