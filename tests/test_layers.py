"""The package is a one-way house: each layer imports only from the layers below it, and no module circle.

Layers, bottom to top: utils and the registry; data; graph building and pretrained features;
nn; the model families (baselines, retrieval, captioning); train; viz; the synthetic datasets;
the benchmark harness; the command line. The library core (up to viz) never imports the
datasets or the benchmark harness. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mmgraph

PACKAGE = Path(mmgraph.__file__).parent
LAYERS = {"utils": 0, "registry": 0, "data": 1, "graph": 2, "features": 2, "nn": 3, "baselines": 4, "retrieval": 4,
          "captioning": 4, "train": 5, "viz": 6, "datasets": 7, "bench": 8, "cli": 9, "__main__": 10}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                root = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(root + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                found.add(target)
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    return 10 if len(parts) == 1 else LAYERS[parts[1]]


def test_every_subpackage_has_a_layer() -> None:
    names = {m.split(".")[1] for m in _modules() if "." in m}
    assert names <= set(LAYERS), f"give these a layer: {sorted(names - set(LAYERS))}"


def test_imports_only_go_down() -> None:
    modules = _modules()
    upward = [f"{m} -> {t}" for m, p in modules.items() for t in _imports(m, p, modules)
              if t != "mmgraph" and m.split(".")[:2] != t.split(".")[:2] and _layer(t) >= _layer(m)]
    assert not upward, "imports that do not go down a layer:\n" + "\n".join(sorted(upward))


def test_no_module_imports_itself_through_a_circle() -> None:
    modules = _modules()
    graph = {m: _imports(m, p, modules) - {"mmgraph"} for m, p in modules.items()}
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not circles, f"import circles: {circles[:5]}"
