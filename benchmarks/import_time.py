"""Time ``import torch_geometric``, ``import mmgraph`` and ``mmgraph --help`` in fresh processes.

Usage: python benchmarks/import_time.py [--repeats 5] [--out benchmarks/results/import_time]
Runs each command ``--repeats`` times in a new interpreter (after one untimed run that warms the
file cache), prints a markdown table of the medians with each one's ratio to
``import torch_geometric``, and writes ``<out>/cpu.md`` and ``<out>/cpu.json`` with the exact
command and the machine. Timings depend on the machine's load: run it on an otherwise idle
machine (the 1-minute load average before and after is recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PYTHON = sys.executable


def _commands() -> list[tuple[str, list[str]]]:
    """(label, argv) of the timed commands; the first is the reference of the ratios."""
    cli = shutil.which("mmgraph", path=str(Path(PYTHON).parent)) or shutil.which("mmgraph")
    if cli is None:
        raise SystemExit("import_time.py: the mmgraph console script is not installed (pip install -e .)")
    return [
        ("python -c \"import torch_geometric\"", [PYTHON, "-c", "import torch_geometric"]),
        ("python -c \"import mmgraph\"", [PYTHON, "-c", "import mmgraph"]),
        ("mmgraph --help", [cli, "--help"]),
        ("python -c \"import mmgraph; mmgraph.list_models(None)\" (every model registered)",
         [PYTHON, "-c", "import mmgraph; mmgraph.list_models(None)"]),
        ("mmgraph bench --help (imports the tasks for its settings table)", [cli, "bench", "--help"]),
    ]


def time_command(argv: list[str], repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` runs of ``argv`` (after one untimed warm-up run)."""
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table: median, min, max and ratio to the first row."""
    ref = rows[0]["median_s"]
    lines = ["| command | median s | min s | max s | / import torch_geometric |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| `{row['command']}` | {row['median_s']:.2f} | {min(row['times_s']):.2f} | "
                     f"{max(row['times_s']):.2f} | {row['median_s'] / ref:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command (default: 5)")
    parser.add_argument("--out", default="benchmarks/results/import_time", help="output folder")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows = []
    for label, argv in _commands():
        times = time_command(argv, args.repeats)
        rows.append({"command": label, "times_s": [round(t, 3) for t in times],
                     "median_s": round(statistics.median(times), 3)})
    load_after = os.getloadavg()[0]
    text = table(rows)
    print(text)

    from mmgraph.bench.machine import machine_facts
    from mmgraph.utils.io import atomic_write_text

    command = "python benchmarks/import_time.py" + "".join(f" {a}" for a in sys.argv[1:])
    facts = machine_facts("cpu")
    result = {"command": command, "repeats": args.repeats, "rows": rows, "load_average_1min": [load_before, load_after],
              "machine": facts}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "cpu.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(
        out / "cpu.md",
        f"# Import and CLI start-up time\n\n```bash\n{command}\n```\n\n"
        f"Median of {args.repeats} runs of each command in a fresh interpreter (after one untimed warm-up run).\n\n"
        "`import mmgraph` alone loads none of its modules (its names load on first use), so it and "
        "`mmgraph --help` skip torch altogether; the row with every model registered is the whole stack "
        "(torch_geometric plus mmgraph's models, without scikit-learn, matplotlib or nltk).\n\n"
        f"{text}\n\nMachine: {facts['processor']}, {facts['logical_cores']} cores, {facts['memory_gib']} GiB, "
        f"Python {facts['python']}, torch {facts['torch']}, torch_geometric {facts['torch_geometric']}; "
        f"1-minute load average {load_before:.2f} before, {load_after:.2f} after.\n",
    )


if __name__ == "__main__":
    main()
