"""Training-step cost of the Sort-of-CLEVR models at equal parameter budgets.

Usage: python benchmarks/probes/step_speed.py [--input state|pixels] [--device cpu|cuda] [--models m1,m2]
           [--hidden 64] [--batch-size 64] [--steps 5] [--threads 1]
Prints, per model, milliseconds per AdamW step (forward + backward + update) and
microseconds per question, averaged over --steps batches after one warm-up batch, with every
model's width matched to the reference (graph-relational at --hidden) as `mmgraph bench` does,
and the minutes one epoch of the full training split (9,800 images x 20 questions) would take.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from mmgraph.bench.runner import build_model, match_budget
from mmgraph.bench.tasks import SortOfCLEVRTask


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", choices=["state", "pixels"], default="state")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", type=lambda s: s.split(","), default=None)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    task = SortOfCLEVRTask(args.input, sizes=(200, 10, 10))
    task.load(quick=False)
    target = sum(p.numel() for p in build_model(task, "graph-relational", args.hidden).parameters())
    print(f"{'model':18s} {'hidden':>6s} {'params':>8s} {'ms/step':>8s} {'us/question':>12s} {'min/epoch':>9s}")
    for name in args.models or task.default_models:
        hidden = args.hidden if name == "graph-relational" else match_budget(task, name, target)[0]
        model = build_model(task, name, hidden).to(device)
        opt = torch.optim.AdamW(model.parameters(), foreach=True)
        batches = [b.to(device) for b in task.batches("train", args.batch_size, shuffle=True)]
        questions = 0
        for i in range(args.steps + 1):
            b = batches[i % len(batches)]
            if i == 1:  # the first batch is a warm-up
                _sync(device)
                t0 = time.perf_counter()
            if i >= 1:
                questions += b.y.numel()
            opt.zero_grad()
            F.cross_entropy(model(b), b.y).backward()
            opt.step()
        _sync(device)
        seconds = time.perf_counter() - t0
        per_question = seconds / questions
        params = sum(p.numel() for p in model.parameters())
        print(f"{name:18s} {hidden:6d} {params:8,d} {seconds / args.steps * 1e3:8.1f} {per_question * 1e6:12.0f} "
              f"{per_question * 196_000 / 60:9.1f}", flush=True)


if __name__ == "__main__":
    main()
