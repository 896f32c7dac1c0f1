"""Graph building and graph fusion against a dense attention layer as the elements per sample grow.

Usage: python benchmarks/scaling.py [--sizes 256,1024,4096,16384,65536] [--device cpu] [--threads 2]
           [--parts build,fusion] [--limit 900] [--out benchmarks/results/scaling]

Every measurement runs in a fresh subprocess. Peak memory: GPU, peak allocated; CPU, for graph
building the rise of the process's peak resident set (the inputs are small; the KD-tree's
arrays count), for the fusion steps the peak of tensor memory above the prepared inputs, from
torch.profiler's memory events (the graph prepared beforehand would otherwise hide it).

- build: one sample of N elements (image-like positions on a jittered grid, 64-d features, the
  time spans of a sequence), for each edge strategy; seconds (median of 3) and peak memory.
  `Full` past the builder's default `max_edges` is refused, and recorded as such.
- fusion: B=2 samples of N regions + 16 tokens. graph-gat (SpatialKNN k=8 within the image,
  Full text<->image, a fusion node; width 64, 2 layers, 4 heads) forward+backward on a graph
  built beforehand (the build is timed on its own), against one nn.TransformerEncoderLayer of
  the same width (4 heads, feed-forward 128) over the N+16 elements of each sample.

A kind of measurement whose run exceeds --limit seconds is not run at larger N (recorded as
skipped). Writes results.json, results.md and results.png (log-log) to --out/<device>.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch

STRATEGIES: dict[str, Callable[[Any], Any]] = {
    "Sequential(window=2)": lambda mg: mg.edges.Sequential(window=2),
    "TemporalOverlap()": lambda mg: mg.edges.TemporalOverlap(),
    "SpatialKNN(k=8)": lambda mg: mg.edges.SpatialKNN(k=8),
    "FeatureKNN(k=8)": lambda mg: mg.edges.FeatureKNN(k=8),
    "Full()": lambda mg: mg.edges.Full(),
}
TOKENS, WIDTH, BATCH = 16, 64, 2


# ------------------------------------------------------------------ inputs
def _elements(n: int, seed: int) -> Any:
    import mmgraph as mg

    g = torch.Generator().manual_seed(seed)
    side = math.ceil(math.sqrt(n))
    grid = torch.stack(torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij"), -1).reshape(-1, 2)[:n]
    pos = (grid.float() + 0.25 * torch.rand(n, 2, generator=g)) / side
    start = torch.arange(n, dtype=torch.float) * 0.02
    time_ = torch.stack([start, start + 0.03], 1)  # each frame overlaps the next
    return mg.Modality(torch.randn(n, WIDTH, generator=g), pos=pos, time=time_)


def _fusion_samples(n: int) -> list[Any]:
    import mmgraph as mg

    out = []
    for b in range(BATCH):
        image = _elements(n, seed=b)
        g = torch.Generator().manual_seed(100 + b)
        text = mg.Modality(torch.randn(TOKENS, WIDTH, generator=g))
        out.append(mg.MultimodalSample(image=mg.Modality(image.x, pos=image.pos), text=text, y=torch.tensor(b)))
    return out


# ------------------------------------------------------------------ one measurement (in a subprocess)
def _peak_mb(device: torch.device, baseline: float) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return max(0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - baseline)


def _start_peak(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _torch_peak_mb(fn: Callable[[], Any]) -> float:
    """Peak MB of tensor memory that one call of ``fn`` holds above what existed before it (CPU).

    Read from ``torch.profiler``'s memory events, so inputs prepared earlier in the process
    (whose peak the resident-set high-water mark would keep) do not count.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # every allocation (+) and free (-) is counted once, in the innermost operator it happened in
    deltas = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage)
    level = peak = 0
    for _, delta in deltas:
        level += delta
        peak = max(peak, level)
    return peak / 2**20


def _once(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds of one call (waiting for the GPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def _timed(fn: Callable[[], Any], device: torch.device, repeats: int, tensors_only: bool = False) -> tuple[float, float]:
    """``(median seconds, peak MB of the first run)``; ``tensors_only``: peak of tensor memory (CPU), not of the process."""
    if tensors_only and device.type == "cpu":
        peak = _torch_peak_mb(fn)
        return statistics.median(_once(fn, device) for _ in range(repeats)), peak
    baseline = _start_peak(device)
    times = [_once(fn, device)]
    peak = _peak_mb(device, baseline)
    times += [_once(fn, device) for _ in range(repeats - 1)]
    return statistics.median(times), peak


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement described by ``spec`` (``kind``, ``n``, ``strategy``, ``device``)."""
    import mmgraph as mg

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    if spec["kind"] == "build":
        sample = mg.MultimodalSample(image=_elements(spec["n"], seed=0).to(device))
        builder = mg.GraphBuilder(intra={"image": STRATEGIES[spec["strategy"]](mg)})
        try:
            seconds, peak = _timed(lambda: builder(sample), device, 3)  # the first run's peak memory
        except ValueError as exc:
            if "max_edges" not in str(exc):
                raise
            return {"refused": str(exc).split(";")[0]}
        return {"seconds": seconds, "peak_mb": peak, "edges": builder(sample).num_edges}
    if spec["kind"] == "graph-build":
        model = _graph_model()
        batch = mg.collate(_fusion_samples(spec["n"])).to(device)
        collate = model.collate_fn()
        seconds, peak = _timed(lambda: collate.attach(batch), device, 3)
        return {"seconds": seconds, "peak_mb": peak, "edges": collate.attach(batch).graph.layout.num_edges}
    if spec["kind"] == "graph-fusion":
        model = _graph_model().to(device)
        batch = model.collate_fn()(_fusion_samples(spec["n"])).to(device)

        def step() -> None:
            model.zero_grad(set_to_none=True)
            model(batch).sum().backward()

        seconds, peak = _timed(step, device, 3, tensors_only=True)
        return {"seconds": seconds, "peak_mb": peak, "edges": batch.graph.layout.num_edges}
    if spec["kind"] == "dense-fusion":
        torch.manual_seed(0)
        layer = torch.nn.TransformerEncoderLayer(WIDTH, 4, 2 * WIDTH, dropout=0.0, batch_first=True).to(device)
        x = torch.randn(BATCH, spec["n"] + TOKENS, WIDTH, device=device)

        def dense() -> None:
            layer.zero_grad(set_to_none=True)
            layer(x).sum().backward()

        seconds, peak = _timed(dense, device, 3, tensors_only=True)
        return {"seconds": seconds, "peak_mb": peak}
    raise ValueError(f"unknown kind {spec['kind']!r}")


def _graph_model() -> Any:
    import mmgraph as mg

    torch.manual_seed(0)
    builder = mg.GraphBuilder(intra={"image": mg.edges.SpatialKNN(k=8)}, cross={("text", "image"): mg.edges.Full()},
                              fusion_node=True)
    return mg.get_model("graph-gat", in_dims={"image": WIDTH, "text": WIDTH}, hidden=WIDTH, out_dim=2, builder=builder)


# ------------------------------------------------------------------ orchestration
def _run(spec: dict[str, Any], limit: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"skipped": f"ran past the {limit:.0f} s limit"}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return {"error": tail[0][:300]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    return result


def _plan(args: argparse.Namespace) -> list[dict[str, Any]]:
    specs = []
    base = {"device": args.device, "threads": args.threads}
    for n in args.sizes:
        if "build" in args.parts:
            specs += [dict(base, kind="build", n=n, strategy=s) for s in STRATEGIES]
        if "fusion" in args.parts:
            specs += [dict(base, kind=k, n=n, strategy="") for k in ("graph-build", "graph-fusion", "dense-fusion")]
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=[256, 1024, 4096, 16384, 65536])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parts", type=lambda s: s.split(","), default=["build", "fusion"])
    parser.add_argument("--limit", type=float, default=900.0, help="seconds one measurement may take")
    parser.add_argument("--out", default="benchmarks/results/scaling")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(json.loads(args.worker))))
        return
    rows: list[dict[str, Any]] = []
    stopped: set[tuple[str, str]] = set()
    for spec in _plan(args):
        key = (spec["kind"], spec["strategy"])
        result = {"skipped": "a smaller N ran past the limit"} if key in stopped else _run(spec, args.limit)
        if "skipped" in result:
            stopped.add(key)
        row = {"kind": spec["kind"], "strategy": spec["strategy"], "n": spec["n"], **result}
        rows.append(row)
        print(json.dumps(row), flush=True)
    write(rows, args)


def _fmt(row: Optional[dict[str, Any]], key: str) -> str:
    if row is None:
        return "–"
    for flag in ("refused", "skipped", "error"):
        if flag in row:
            return flag
    value = row[key]
    return f"{value:.3g}" if key == "seconds" else f"{value:,.0f}"


def write(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    from mmgraph.bench.machine import machine_facts
    from mmgraph.utils.io import atomic_write_text

    device = torch.device(args.device)
    out = Path(args.out) / device.type
    out.mkdir(parents=True, exist_ok=True)
    command = "python " + " ".join(["benchmarks/scaling.py", *sys.argv[1:]])
    find = {(r["kind"], r["strategy"], r["n"]): r for r in rows}
    lines = [f"# Scaling with elements per sample ({device.type}, {args.threads} threads)", ""]
    if "build" in args.parts:
        lines += ["Graph building, one sample of N elements: seconds / peak MB", "",
                  "| strategy | " + " | ".join(f"N={n:,}" for n in args.sizes) + " |",
                  "|---|" + "---|" * len(args.sizes)]
        for s in STRATEGIES:
            cells = [f"{_fmt(find.get(('build', s, n)), 'seconds')} / {_fmt(find.get(('build', s, n)), 'peak_mb')}"
                     for n in args.sizes]
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
    if "fusion" in args.parts:
        lines += [f"Fusion, {BATCH} samples of N regions + {TOKENS} tokens, forward+backward: seconds / peak MB", "",
                  "| N | edges | graph build (loader) | graph-gat fwd+bwd | dense Transformer layer fwd+bwd | dense / graph time |",
                  "|---|---|---|---|---|---|"]
        for n in args.sizes:
            build, graph, dense = (find.get((k, "", n)) for k in ("graph-build", "graph-fusion", "dense-fusion"))
            ratio = "–"
            if graph and dense and "seconds" in graph and "seconds" in dense:
                ratio = f"{dense['seconds'] / graph['seconds']:.1f}x"
            edges = f"{graph['edges']:,}" if graph and "edges" in graph else "–"
            lines.append(f"| {n:,} | {edges} | {_fmt(build, 'seconds')} / {_fmt(build, 'peak_mb')} | "
                         f"{_fmt(graph, 'seconds')} / {_fmt(graph, 'peak_mb')} | "
                         f"{_fmt(dense, 'seconds')} / {_fmt(dense, 'peak_mb')} | {ratio} |")
        lines.append("")
    lines += [f"Command: `{command}`", "", "Machine, versions and every run: `results.json`; plot: `results.png`.", ""]
    text = "\n".join(lines)
    print(text)
    result = {"command": command, "settings": {k: v for k, v in vars(args).items() if k not in ("out", "worker")},
              "rows": rows, "machine": machine_facts(device)}
    atomic_write_text(out / "results.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "results.md", text)
    _plot(rows, args, out / "results.png")


def _plot(rows: list[dict[str, Any]], args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [(("build", s), s, axes[0]) for s in STRATEGIES]
    series += [((k, ""), label, axes[1]) for k, label in (("graph-build", "graph build (loader)"),
                                                        ("graph-fusion", "graph-gat fwd+bwd"),
                                                        ("dense-fusion", "dense Transformer fwd+bwd"))]
    for (kind, strategy), label, ax in series:
        pts = [(r["n"], r["seconds"]) for r in rows if r["kind"] == kind and r["strategy"] == strategy and "seconds" in r]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=label)
    for ax, title in zip(axes, ("graph building, one sample", f"fusion, {BATCH} samples")):
        ax.set(xscale="log", yscale="log", xlabel="elements per sample (N)", ylabel="seconds", title=title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
