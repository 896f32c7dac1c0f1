"""Train one model on Sort-of-CLEVR from pixels (a subset of the images) and print accuracy per question type.

Usage: python benchmarks/probes/pixels_variant.py graph-relational [--images 4000] [--epochs 6] [--lr 3e-3]
       [--batch-size 256]
A probe for model design, not a benchmark result: one seed, no sweep, the bench's
inputs and extractors (`SortOfCLEVRTask("pixels").model_kwargs`), 100 val / 100 test images.
"""

from __future__ import annotations

import argparse
import time

import torch

from mmgraph.bench.runner import build_model
from mmgraph.bench.tasks import SortOfCLEVRTask
from mmgraph.train.fit import fit, predict

KINDS = {(False, 0): "shape", (False, 1): "left?", (False, 2): "top?",
         (True, 0): "closest", (True, 1): "furthest", (True, 2): "count"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256, help="questions per batch (20 per image)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = SortOfCLEVRTask("pixels", sizes=(args.images, 100, 100))
    task.load(quick=False)
    model = build_model(task, args.model, args.hidden)
    print(args.model, sum(p.numel() for p in model.parameters()), "parameters", flush=True)
    t0 = time.time()
    fit(model, task.batches("train", args.batch_size, True), task.batches("val", 200, False), epochs=args.epochs, lr=args.lr,
        progress=False, log=lambda d: print({k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()},
                                            flush=True))
    print(task.evaluate(model, "test", 200), f"{time.time() - t0:.0f}s")
    test = task.data["test"]
    preds, targets = predict(model, task.batches("test", 200, shuffle=False))
    correct = (preds.argmax(-1) == targets).reshape(test.answers.shape)
    bits = test.question_bits  # bits 6/7: non-relational/relational, 8-10: subtype
    for (rel, sub), label in KINDS.items():
        mask = ((bits[..., 7] == 1) if rel else (bits[..., 6] == 1)) & (bits[..., 8 + sub] == 1)
        print(f"  {label:9s} {correct[mask].float().mean().item():.3f}")


if __name__ == "__main__":
    main()
