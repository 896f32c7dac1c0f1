"""Train a few models once on the full synthetic sentiment data and print their test metrics.

Usage: python benchmarks/probes/sentiment_models.py concat,graph-relational [--epochs 15] [--lr 1e-3]
A probe for model and data design, not a benchmark result: one seed, no sweep; widths
matched to graph-relational at hidden 64 as `mmgraph bench` does; the task's training
modality dropout (0.15) applies.
"""

from __future__ import annotations

import argparse
import time

import torch

from mmgraph.bench.runner import build_model, match_budget
from mmgraph.bench.tasks import SentimentTask
from mmgraph.train.fit import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=lambda s: s.split(","))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = SentimentTask()
    task.load(quick=False)
    target = sum(p.numel() for p in build_model(task, "graph-relational", 64).parameters())
    for name in args.models:
        hidden = 64 if name == "graph-relational" else match_budget(task, name, target)[0]
        model = build_model(task, name, hidden)
        t0 = time.time()
        fit(model, task.batches("train", 32, True), task.batches("val", 64, False), monitor="mae", mode="min",
            epochs=args.epochs, lr=args.lr, progress=False)
        metrics = task.evaluate(model, "test", 64)
        print(name, hidden, {k: round(v, 3) for k, v in metrics.items()}, f"{time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
