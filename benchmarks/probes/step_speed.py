"""Training-step cost per question of every Sort-of-CLEVR model at equal parameter budgets.

Usage: python benchmarks/probes/step_speed.py [--hidden 64] [--batch-size 64] [--threads 1]
Prints microseconds per question for one AdamW step (forward + backward + update),
averaged over 5 batches of state-description questions, with every model's width
matched to the reference (graph-relational at --hidden) as `mmgraph bench` does.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from mmgraph.bench.runner import build_model, match_budget
from mmgraph.bench.tasks import SortOfCLEVRTask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = SortOfCLEVRTask("state", sizes=(200, 10, 10))
    task.load(quick=False)
    target = sum(p.numel() for p in build_model(task, "graph-relational", args.hidden).parameters())
    print(f"{'model':18s} {'hidden':>6s} {'params':>8s} {'us/question':>12s}")
    for name in task.default_models:
        hidden = args.hidden if name == "graph-relational" else match_budget(task, name, target)[0]
        model = build_model(task, name, hidden)
        opt = torch.optim.AdamW(model.parameters(), foreach=True)
        batches = list(task.batches("train", args.batch_size, shuffle=True))[:6]
        for i, b in enumerate(batches):
            if i == 1:  # the first batch is a warm-up
                t0 = time.perf_counter()
            opt.zero_grad()
            F.cross_entropy(model(b), b.y).backward()
            opt.step()
        us = (time.perf_counter() - t0) / (len(batches) - 1) / args.batch_size * 1e6
        params = sum(p.numel() for p in model.parameters())
        print(f"{name:18s} {hidden:6d} {params:8,d} {us:12.0f}", flush=True)


if __name__ == "__main__":
    main()
