"""Train one graph-fusion variant on Sort-of-CLEVR state descriptions and print the learning curve.

Usage: python benchmarks/probes/graph_variant.py VARIANT [--images 9800] [--epochs 3] [--lr 1e-3]
       [--batch-size 64] [--layers 3] [--conv relational] [--condition question]

VARIANT: "tokens-objects" (every question token linked to every object, as in `mmgraph bench`)
or "via-fusion" (tokens reach the objects only through the fusion node).
A probe for model design, not a benchmark result: one seed, no sweep, 100 val / 100 test images.
"""

from __future__ import annotations

import argparse
import time

import torch

import mmgraph as mg
from mmgraph.bench.tasks import SortOfCLEVRTask
from mmgraph.datasets.sort_of_clevr import ANSWERS, VOCAB
from mmgraph.train.fit import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=["tokens-objects", "via-fusion"])
    parser.add_argument("--images", type=int, default=9800)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--conv", default="relational")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--condition", default=None, help="modality conditioning every message (relational convs)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--norm", default="layer", help='"layer", "batch" or "none"')
    parser.add_argument("--norm-first", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = SortOfCLEVRTask("state", sizes=(args.images, 100, 100))
    task.load(quick=False)
    e = mg.edges
    cross = {("question", "objects"): e.Full()} if args.variant == "tokens-objects" else {}
    builder = mg.GraphBuilder(intra={"objects": e.Full(attr="pos"), "question": e.Sequential(1)}, cross=cross,
                              fusion_node=True)
    mg.seed_everything(0)
    model = mg.nn.GraphFusionModel({"objects": 10, "question": len(VOCAB)}, args.hidden, len(ANSWERS),
                                   builder=builder, conv=args.conv, num_layers=args.layers,
                                   condition=args.condition, norm=None if args.norm == "none" else args.norm,
                                   norm_first=args.norm_first)
    print(f"{args.variant}: {model.num_parameters():,} parameters", flush=True)
    t0 = time.time()
    fit(model, task.batches("train", args.batch_size, True), task.batches("val", 256, False), epochs=args.epochs,
        lr=args.lr, progress=False, log=lambda d: print({k: round(v, 3) if isinstance(v, float) else v
                                                         for k, v in d.items()}, flush=True))
    print(args.variant, task.evaluate(model, "test", 256), f"{time.time() - t0:.0f}s")
    # accuracy per question subtype (bits 6-7: non-relational/relational, 8-10: subtype)
    from mmgraph.train.fit import predict

    test = task.scenes["test"]
    preds, targets = predict(model, task.batches("test", 256, shuffle=False))
    correct = (preds.argmax(-1) == targets).reshape(test.answers.shape)
    bits = test.question_bits
    kinds = {(False, 0): "shape", (False, 1): "left?", (False, 2): "top?",
             (True, 0): "closest", (True, 1): "furthest", (True, 2): "count"}
    for (rel, sub), label in kinds.items():
        mask = (bits[..., 7] == 1) if rel else (bits[..., 6] == 1)
        mask = mask & (bits[..., 8 + sub] == 1)
        print(f"  {label:9s} {correct[mask].float().mean().item():.3f} ({int(mask.sum())} questions)")


if __name__ == "__main__":
    main()
