"""The Python blocks of docs/guide.md run, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "guide.md").read_text()


def test_guide_code_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE, flags=re.S)
    assert len(blocks) >= 6
    namespace: dict[str, object] = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/guide.md block {i}", "exec"), namespace)  # noqa: S102 - the guide's own code
        except Exception as exc:  # pragma: no cover - the message says which block failed
            raise AssertionError(f"docs/guide.md python block {i} failed: {exc!r}\n{block}") from exc
    assert isinstance(namespace["fig"], matplotlib.figure.Figure)


def test_guide_commands_name_real_subcommands() -> None:
    from mmgraph.cli import build_parser

    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for cmd in re.findall(r"```bash\n(.*?)```", GUIDE, flags=re.S):
        if "bin/mmgraph" in cmd:
            assert cmd.split("bin/mmgraph", 1)[1].split()[0] in choices
