"""Training-step cost of every Sort-of-CLEVR model at the benchmark's equal parameter budget, side by side.

Usage: python benchmarks/step_speed.py [--input state|pixels] [--batch-size 64] [--threads 1] [--device cpu]
           [--models m1,m2] [--rounds 7] [--steps 10] [--compile] [--out benchmarks/results/step_speed]

Every model gets the width `mmgraph bench` gives it (parameters matched to graph-relational at
--hidden) and the same batches; graph models get their graphs built beforehand, as the bench's
loader does (the loader's cost per batch is reported on its own). Per model:

- ms/step: median over --rounds rounds of the mean AdamW step (forward, backward, update) over
  --steps batches; the rounds go round the models in turn, so a noisy machine slows all alike;
- aten ops: operators that torch.profiler records in one forward+backward (after zero_grad);
  host syncs: how many of them are aten::item, aten::_local_scalar_dense or aten::nonzero; on a
  GPU also the kernels launched;
- with --compile, graph models again under torch.compile(dynamic=True) (compilation excluded).

Writes results.json and results.md to --out/<input>-b<batch>-<device>.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from mmgraph.bench.machine import machine_facts
from mmgraph.bench.runner import build_model, match_budget
from mmgraph.bench.tasks import SortOfCLEVRTask
from mmgraph.utils.io import atomic_write_text

SYNCS = ("aten::item", "aten::_local_scalar_dense", "aten::nonzero")
#: (model, reference) pairs whose step-time ratio the targets bound, and the op-count pair.
PAIRS = (("graph-relational", "rn"), ("graph-gat", "attention"))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _prepare(task: SortOfCLEVRTask, name: str, hidden: int, args: argparse.Namespace, device: torch.device) -> dict:
    """The model, its optimiser and its batches (graphs built beforehand), and the loader's build time."""
    torch.manual_seed(0)
    model = build_model(task, name, hidden).to(device)
    batches = list(task.batches("train", args.batch_size, shuffle=True))[: args.steps]
    build_ms = None
    collate = getattr(model, "collate_fn", None)
    if callable(collate) and not batches[0].raw:
        collate = collate()
        t0 = time.perf_counter()
        batches = [collate.attach(b) for b in batches]
        build_ms = (time.perf_counter() - t0) / len(batches) * 1e3
    batches = [b.to(device) for b in batches]
    return {"model": model, "run": model, "opt": torch.optim.AdamW(model.parameters(), foreach=True),
            "batches": batches, "build_ms": build_ms, "hidden": hidden}


def _steps(entry: dict, device: torch.device) -> float:
    """Mean milliseconds of one training step over the entry's batches."""
    run, opt = entry["run"], entry["opt"]
    _sync(device)
    t0 = time.perf_counter()
    for b in entry["batches"]:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(run(b), b.y).backward()
        opt.step()
    _sync(device)
    return (time.perf_counter() - t0) / len(entry["batches"]) * 1e3


def _ops(entry: dict, device: torch.device) -> dict[str, int]:
    """Operators (and syncs, and GPU kernels) of one forward+backward."""
    model, b = entry["run"], entry["batches"][0]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    entry["model"].zero_grad(set_to_none=True)
    with profile(activities=activities) as prof:
        F.cross_entropy(model(b), b.y).backward()
        _sync(device)
    names = Counter(e.name for e in prof.events())
    out = {"aten_ops": sum(n for k, n in names.items() if k.startswith("aten::")),
           "host_syncs": sum(names[k] for k in SYNCS)}
    if device.type == "cuda":
        out["kernel_launches"] = names["cudaLaunchKernel"] + names["cuLaunchKernel"] + names["cudaLaunchKernelExC"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", choices=["state", "pixels"], default="state")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", type=lambda s: s.split(","), default=None)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="also time graph models under torch.compile")
    parser.add_argument("--out", default="benchmarks/results/step_speed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    task = SortOfCLEVRTask(args.input, sizes=(200, 10, 10))
    task.load(quick=False)
    target = sum(p.numel() for p in build_model(task, "graph-relational", args.hidden).parameters())
    names = args.models or list(task.default_models)
    entries: dict[str, dict] = {}
    for name in names:
        hidden = args.hidden if name == "graph-relational" else match_budget(task, name, target)[0]
        entries[name] = _prepare(task, name, hidden, args, device)
        if args.compile and name.startswith("graph-"):
            compiled = dict(entries[name], run=torch.compile(entries[name]["model"], dynamic=True))
            entries[f"{name} (compiled)"] = compiled
    for entry in entries.values():  # warm-up (and compilation), not timed
        _steps(entry, device)
    times: dict[str, list[float]] = {name: [] for name in entries}
    for _ in range(args.rounds):
        for name, entry in entries.items():
            times[name].append(_steps(entry, device))
    rows = []
    for name, entry in entries.items():
        params = sum(p.numel() for p in entry["model"].parameters())
        rows.append({"model": name, "hidden": entry["hidden"], "params": params,
                     "ms_per_step": round(statistics.median(times[name]), 2),
                     "ms_per_step_rounds": [round(t, 2) for t in times[name]],
                     "graph_build_ms_per_batch": None if entry["build_ms"] is None else round(entry["build_ms"], 2),
                     **_ops(entry, device)})
    report(rows, args, device)


def _ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    by = {r["model"]: r for r in rows}
    out = {}
    for model, ref in PAIRS:
        if model in by and ref in by:
            out[f"{model} / {ref} ms per step"] = round(by[model]["ms_per_step"] / by[ref]["ms_per_step"], 3)
    if "graph-relational" in by and "rn" in by:
        out["graph-relational / rn aten ops"] = round(by["graph-relational"]["aten_ops"] / by["rn"]["aten_ops"], 3)
    for name, row in by.items():
        if name.endswith(" (compiled)") and name.removesuffix(" (compiled)") in by:
            eager = by[name.removesuffix(" (compiled)")]["ms_per_step"]
            out[f"{name.removesuffix(' (compiled)')} compile speed-up"] = round(eager / row["ms_per_step"], 3)
    return out


def report(rows: list[dict[str, Any]], args: argparse.Namespace, device: torch.device) -> None:
    ratios = _ratios(rows)
    command = "python " + " ".join(["benchmarks/step_speed.py", *sys.argv[1:]])
    lines = [
        f"# Training-step cost, Sort-of-CLEVR ({args.input}), batch {args.batch_size}, {args.threads} thread(s), {device}",
        "",
        "| model | hidden | params | ms/step (median) | aten ops fwd+bwd | host syncs | graph build ms/batch (loader) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        build = "–" if r["graph_build_ms_per_batch"] is None else f"{r['graph_build_ms_per_batch']:.2f}"
        lines.append(f"| {r['model']} | {r['hidden']} | {r['params']:,} | {r['ms_per_step']:.2f} | {r['aten_ops']:,} "
                     f"| {r['host_syncs']} | {build} |")
    lines += ["", "| ratio | value |", "|---|---|"] + [f"| {k} | {v:.2f} |" for k, v in ratios.items()]
    lines += ["", f"Command: `{command}`", "", "Per-round times, machine and versions: `results.json`.", ""]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out) / f"{args.input}-b{args.batch_size}-{device.type}"
    out.mkdir(parents=True, exist_ok=True)
    result = {"command": command, "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "rows": rows, "ratios": ratios, "machine": machine_facts(device)}
    atomic_write_text(out / "results.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "results.md", text)


if __name__ == "__main__":
    main()
