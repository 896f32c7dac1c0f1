"""Every ``Example:`` in the package's docstrings runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import mmgraph


def _has_examples(name: str) -> bool:
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.origin is not None and ">>>" in Path(spec.origin).read_text(encoding="utf-8")


MODULES = [m.name for m in pkgutil.walk_packages(mmgraph.__path__, "mmgraph.") if m.name != "mmgraph.__main__"]
WITH_EXAMPLES = sorted(name for name in MODULES if _has_examples(name))


def test_examples_are_found() -> None:
    assert "mmgraph.viz.networkx" in WITH_EXAMPLES and "mmgraph.graph.builder" in WITH_EXAMPLES


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.attempted > 0, f"no docstring example found in {name}"
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
