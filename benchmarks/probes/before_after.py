"""Step cost of graph-relational, graph-gat, RN and attention before and after a change, each model in its own process.

Usage: git worktree add /tmp/before REV && python benchmarks/probes/before_after.py /tmp/before [--rounds 3]
For the checkout at the given path (graph built in forward) and for this one (graph built in
forward, and built in the loader): ms per AdamW step (Sort-of-CLEVR state, batch 64, 1 thread,
bench budgets; median over --rounds rounds, the versions interleaved), aten operators and host
syncs in one forward+backward. Prints one JSON line per version.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

MODELS = ("graph-relational", "graph-gat", "rn", "attention")
HERE = str(Path(__file__).resolve().parents[2])


def worker(root: str, mode: str, name: str) -> dict:
    sys.path.insert(0, root)
    import torch
    import torch.nn.functional as F
    from torch.profiler import profile

    from mmgraph.bench.runner import build_model, match_budget
    from mmgraph.bench.tasks import SortOfCLEVRTask

    torch.set_num_threads(1)
    task = SortOfCLEVRTask("state", sizes=(200, 10, 10))
    task.load(quick=False)
    target = sum(p.numel() for p in build_model(task, "graph-relational", 64).parameters())
    hidden = 64 if name == "graph-relational" else match_budget(task, name, target)[0]
    torch.manual_seed(0)
    model = build_model(task, name, hidden)
    batches = list(task.batches("train", 64, shuffle=True))[:10]
    if mode == "loader" and hasattr(model, "collate_fn"):
        batches = [model.collate_fn().attach(b) for b in batches]
    opt = torch.optim.AdamW(model.parameters(), foreach=True)

    def steps() -> float:
        t0 = time.perf_counter()
        for b in batches:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(b), b.y).backward()
            opt.step()
        return (time.perf_counter() - t0) / len(batches) * 1e3

    steps()
    ms = statistics.median(steps() for _ in range(3))
    model.zero_grad(set_to_none=True)
    with profile() as prof:
        F.cross_entropy(model(batches[0]), batches[0].y).backward()
    names = Counter(e.name for e in prof.events())
    return {"ms": ms, "ops": sum(n for k, n in names.items() if k.startswith("aten::")),
            "syncs": names["aten::item"] + names["aten::_local_scalar_dense"] + names["aten::nonzero"]}


def main() -> None:
    if sys.argv[1] == "--worker":
        print(json.dumps(worker(*sys.argv[2:5])))
        return
    before, rounds = sys.argv[1], int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    versions = {f"before ({before}), graph built in forward": (before, "forward"),
                "after, graph built in forward": (HERE, "forward"), "after, graph built in the loader": (HERE, "loader")}
    found: dict[tuple[str, str], list[dict]] = {(v, m): [] for v in versions for m in MODELS}
    for _ in range(rounds):
        for m in MODELS:
            for v, (root, mode) in versions.items():
                out = subprocess.run([sys.executable, __file__, "--worker", root, mode, m], capture_output=True, text=True)
                found[(v, m)].append(json.loads(out.stdout.strip().splitlines()[-1]))
    for v in versions:
        print(v, json.dumps({m: {"ms": round(statistics.median(r["ms"] for r in found[(v, m)]), 1),
                                 "ms_rounds": [round(r["ms"], 1) for r in found[(v, m)]],
                                 "ops": found[(v, m)][0]["ops"], "syncs": found[(v, m)][0]["syncs"]} for m in MODELS}))


if __name__ == "__main__":
    main()
