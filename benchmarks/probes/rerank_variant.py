"""Train one re-ranker on (image, caption) pairs of the retrieval task and print how well it verifies captions.

Usage: python benchmarks/probes/rerank_variant.py MODEL [--images 4000] [--facts 3] [--epochs 5]
       [--lr 1e-3] [--hidden 48] [--batch-size 128] [--model-arg KEY=VALUE ...] [--masked-words W] [--maskable colours|content]
       [--every-caption] [--seed S] [--gate-bias B]

MODEL: a registered re-ranker (``rerank-graph``, ``rerank-attention``). Each epoch prints the
validation accuracy on (positive, hard negative, other caption) triples, where always "no match"
scores 0.667, and the accuracy on positives vs hard negatives alone (0.5 is chance).
A probe for model design, not a benchmark result: one seed, no sweep, 500 validation images.
"""

from __future__ import annotations

import argparse
import ast
import time

import torch

from mmgraph.bench.runner import build_model
from mmgraph.bench.tasks import RetrievalTask
from mmgraph.datasets.captions import CAPTION_VOCAB, COLORS, SHAPES
from mmgraph.nn.conv.hetero_relational import HeteroRelationalConv
from mmgraph.train.fit import fit, predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--facts", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="the model's and the batches' seed (as a bench run's)")
    parser.add_argument("--listwise", action="store_true",
                        help="softmax cross-entropy over each image's (positive, hard negative, other) scores")
    parser.add_argument("--model-arg", action="append", default=[], help="KEY=VALUE passed to the model factory")
    parser.add_argument("--every-caption", action="store_true",
                        help="an epoch visits every (image, caption) pair (rerank_every_caption=True)")
    parser.add_argument("--masked-words", type=float, default=0.0,
                        help="weight of the masked-word loss (clauses=True; see --maskable)")
    parser.add_argument("--maskable", choices=("colours", "content"), default="content",
                        help="words the masked-word loss hides: colour words, or colour and shape words")
    parser.add_argument("--gate-bias", type=float, default=None,
                        help="start every relational layer's edge gates at sigmoid(B) (RelationalConv.init_gates)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = RetrievalTask(sizes=(args.images, 500, 100), facts_per_caption=args.facts,
                         rerank_every_caption=args.every_caption)
    task.load(quick=False)
    task.use(args.model)
    extra = {k: ast.literal_eval(v) for k, v in (a.split("=", 1) for a in args.model_arg)}
    if args.masked_words:
        extra.update(clauses=True, masked_words=args.masked_words, vocab=CAPTION_VOCAB,
                     maskable=COLORS if args.maskable == "colours" else (*COLORS, *SHAPES))
    if extra:
        base = task.model_kwargs
        task.model_kwargs = lambda name, hidden: {**base(name, hidden), **extra}  # type: ignore[method-assign]
    model = build_model(task, args.model, args.hidden, seed=args.seed)
    if args.gate_bias is not None:
        for conv in model.modules():
            if isinstance(conv, HeteroRelationalConv):
                conv.init_gates(args.gate_bias)
    print(f"{args.model} {extra}: {sum(p.numel() for p in model.parameters()):,} parameters", flush=True)
    val = task.batches("val", 255, False)

    def report(record: dict) -> None:
        out, y = predict(model, val)
        score = out[:, 1] - out[:, 0]
        pos, hard = score[0::3], score[1::3]
        pair_acc = 0.5 * (float((pos > 0).float().mean()) + float((hard <= 0).float().mean()))
        rank_acc = float((pos > hard).float().mean())
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in record.items()}
              | {"pos_vs_hard_acc": round(pair_acc, 3), "pos_above_hard": round(rank_acc, 3)}, flush=True)

    t0 = time.time()
    def listwise(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        score = (out[:, 1] - out[:, 0]).view(-1, 3)
        return torch.nn.functional.cross_entropy(score, torch.zeros(score.size(0), dtype=torch.long))

    fit(model, task.batches("train", args.batch_size, True, seed=args.seed), val, epochs=args.epochs, lr=args.lr,
        progress=False, seed=args.seed, log=report, loss=listwise if args.listwise else None)
    print(f"{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
