"""Graph-building time and peak memory before and after a change, each (version, N, strategy) in its own process.

Usage: git worktree add /tmp/before REV && python benchmarks/probes/build_before_after.py /tmp/before [--sizes 4096,16384]
One sample of N elements (jittered grid positions, 64-d features, overlapping time spans);
per strategy the faster of two builds and the rise of the process's peak resident set on the
first. Prints one JSON line per (N, strategy, version).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = str(Path(__file__).resolve().parents[2])
STRATEGIES = ("Sequential(window=2)", "SpatialKNN(k=8)", "TemporalOverlap()")


def worker(root: str, n: int, name: str) -> dict:
    sys.path.insert(0, root)
    import torch

    import mmgraph as mg

    torch.set_num_threads(2)
    side = int(n**0.5 + 0.999)
    g = torch.Generator().manual_seed(0)
    grid = torch.stack(torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij"), -1).reshape(-1, 2)[:n]
    pos = (grid.float() + 0.25 * torch.rand(n, 2, generator=g)) / side
    t = torch.arange(n, dtype=torch.float) * 0.02
    image = mg.Modality(torch.randn(n, 64, generator=g), pos=pos, time=torch.stack([t, t + 0.03], 1))
    strategy = {"Sequential(window=2)": mg.edges.Sequential(window=2), "SpatialKNN(k=8)": mg.edges.SpatialKNN(k=8),
                "TemporalOverlap()": mg.edges.TemporalOverlap()}[name]
    builder, sample = mg.GraphBuilder(intra={"image": strategy}), mg.MultimodalSample(image=image)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    graph = builder(sample)
    first = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    t0 = time.perf_counter()
    builder(sample)
    return {"seconds": round(min(first, time.perf_counter() - t0), 4), "peak_mb": round(peak), "edges": graph.num_edges}


def main() -> None:
    if sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
        return
    sizes = [int(v) for v in sys.argv[sys.argv.index("--sizes") + 1].split(",")] if "--sizes" in sys.argv else [4096, 16384]
    for n in sizes:
        for name in STRATEGIES:
            for version, root in (("before", sys.argv[1]), ("after", HERE)):
                out = subprocess.run([sys.executable, __file__, "--worker", root, str(n), name], capture_output=True, text=True)
                print(json.dumps({"n": n, "strategy": name, "version": version,
                                  **json.loads(out.stdout.strip().splitlines()[-1])}), flush=True)


if __name__ == "__main__":
    main()
