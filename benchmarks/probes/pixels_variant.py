"""Train one model on Sort-of-CLEVR from pixels (a subset of the images) and print accuracy per question type.

Usage: python benchmarks/probes/pixels_variant.py graph-relational [--images 4000] [--epochs 6] [--lr 3e-3]
       [--batch-size 256] [--scheduler cosine|none] [--mix] [--only left] [--white] [--device cuda]
       [--flat-question] [--film] [--colour-heads] [--experts K [--gate-scale S]]   (cnn-mlp only)
MODEL is any registered model or ``cnn-mlp`` (the RN paper's CNN+MLP reference, defined here).
A probe for model design, not a benchmark result: one seed, no sweep, the bench's
inputs and extractors (`SortOfCLEVRTask("pixels").model_kwargs`), 100 val / 100 test images.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from mmgraph.bench.runner import build_model
from mmgraph.bench.tasks import SortOfCLEVRTask
from mmgraph.bench.tasks.base import Batches
from mmgraph.data.batch import MultimodalBatch
from mmgraph.datasets.sort_of_clevr import COLORS, MAX_QUESTION_LENGTH, VOCAB
from mmgraph.train.fit import fit, predict


class CNNMLP(nn.Module):
    """The CNN+MLP reference of the RN paper (``cnn-mlp``; a probe model, not registered).

    The region grid flattened (not pooled), the question appended (the mean of its one-hot
    tokens, or with ``flat_question`` all of them by position), then an MLP of 3 layers. With
    ``film`` each region first goes through ``Linear(C, 64)`` scaled and shifted per channel by
    the question (FiLM) and a ReLU, so the question selects region features multiplicatively.
    ``colour_heads`` (a diagnostic, not a model) gives one output head per colour and picks it
    by the question's colour word in code; ``experts`` is its learnable counterpart, that many
    heads mixed by a softmax gate on the question (its logits times ``gate_scale``).
    """

    task = "classification"

    def __init__(self, task: SortOfCLEVRTask, hidden: int, flat_question: bool = False, film: bool = False,
                 colour_heads: bool = False, experts: int = 0, gate_scale: float = 1.0) -> None:
        super().__init__()
        self.experts, self.gate_scale = experts, gate_scale
        self.colour_ids = [VOCAB.index(c) for c in COLORS] if colour_heads else None
        self.cnn = task.model_kwargs("concat", hidden)["extractors"]["image"]
        self.flat_question = flat_question
        q_dim = task.in_dims()["question"] * (MAX_QUESTION_LENGTH if flat_question else 1)
        self.gate = nn.Linear(q_dim, experts) if experts else None
        region_dim = self.cnn.out_dim
        self.film = None
        if film:
            region_dim = 64
            self.project = nn.Linear(self.cnn.out_dim, region_dim)
            self.film = nn.Linear(q_dim, 2 * region_dim)
        heads = len(COLORS) if colour_heads else max(1, experts)
        self.mlp = nn.Sequential(nn.Linear(25 * region_dim + q_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5),
                                 nn.Linear(hidden, task.out_dim * heads))

    def forward(self, batch: MultimodalBatch) -> torch.Tensor:
        regions = self.cnn(batch.raw["image"]).x  # (B, 25, C)
        q = batch["question"]
        if self.flat_question:  # one weight per (word, position): the colour word at full strength
            question = q.x.flatten(1)
        else:
            question = (q.x * q.mask.unsqueeze(-1)).sum(1) / q.mask.sum(1, keepdim=True).clamp(min=1)
        if self.film is not None:
            gamma, beta = self.film(question).unsqueeze(1).chunk(2, dim=-1)
            regions = torch.relu((1 + gamma) * self.project(regions) + beta)
        out = self.mlp(torch.cat([regions.flatten(1), question], dim=-1))
        if self.gate is not None:
            weights = torch.softmax(self.gate_scale * self.gate(question), dim=-1)  # (B, K)
            return (out.view(len(out), self.experts, -1) * weights.unsqueeze(-1)).sum(1)
        if self.colour_ids is None:
            return out
        colour = q.x[..., self.colour_ids].sum(1)  # (B, 6) one-hot of the colour word
        return (out.view(len(out), len(COLORS), -1) * colour.unsqueeze(-1)).sum(1)


KINDS = {(False, 0): "shape", (False, 1): "left?", (False, 2): "top?",
         (True, 0): "closest", (True, 1): "furthest", (True, 2): "count"}


def _subset(task: SortOfCLEVRTask, split: str, relational: bool, subtype: int, batch_size: int,
            shuffle: bool) -> Batches:
    """Batches of the questions of one type only (each batch mixes images)."""
    bits = task.scenes[split].question_bits.reshape(-1, task.scenes[split].question_bits.size(-1))
    keep = torch.nonzero((bits[:, 7 if relational else 6] == 1) & (bits[:, 8 + subtype] == 1)).squeeze(1)
    make = task._make(split)
    return Batches(lambda ix: make(keep[ix]), len(keep), 1, batch_size, shuffle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256, help="questions per batch (20 per image)")
    parser.add_argument("--mix", action="store_true",
                        help="training batches of questions drawn across images (one per image, as in the RN paper) "
                             "instead of all 20 questions of each image")
    parser.add_argument("--flat-question", action="store_true",
                        help="cnn-mlp: the question's one-hot tokens by position")
    parser.add_argument("--film", action="store_true", help="cnn-mlp: question-conditioned (FiLM) region features")
    parser.add_argument("--only", choices=[label.rstrip("?") for label in KINDS.values()],
                        help="train and validate on one question type only (mixed batches)")
    parser.add_argument("--colour-heads", action="store_true",
                        help="cnn-mlp diagnostic: one output head per colour, picked by the question's colour word")
    parser.add_argument("--experts", type=int, default=0,
                        help="cnn-mlp: that many output heads mixed by a softmax gate on the question")
    parser.add_argument("--gate-scale", type=float, default=1.0,
                        help="cnn-mlp --experts: multiply the gate's logits (a sharp, near one-hot gate at the start)")
    parser.add_argument("--white", action="store_true",
                        help="paint the black background white (as in the RN reference code) before training")
    parser.add_argument("--scheduler", choices=["cosine", "none"], default="cosine")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="where to train, e.g. cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = SortOfCLEVRTask("pixels", sizes=(args.images, 100, 100))
    task.load(quick=False)
    if args.white:
        for data in task.scenes.values():  # no object colour is pure black, so this touches only the background
            data.images[(data.images == 0).all(dim=1, keepdim=True).expand_as(data.images)] = 255
    if args.model == "cnn-mlp":
        model = CNNMLP(task, args.hidden, args.flat_question, args.film, args.colour_heads, args.experts,
                       args.gate_scale)
    else:
        model = build_model(task, args.model, args.hidden)
    print(args.model, sum(p.numel() for p in model.parameters()), "parameters", flush=True)
    t0 = time.time()
    train = task.batches("train", args.batch_size, True)
    val = task.batches("val", 200, False)
    if args.mix:
        train = Batches(task._make("train"), task.num_samples("train"), 1, args.batch_size, True)
    if args.only:
        rel, sub = next(k for k, label in KINDS.items() if label.rstrip("?") == args.only)
        train, val = (_subset(task, split, rel, sub, size, shuffle)
                      for split, size, shuffle in (("train", args.batch_size, True), ("val", 200, False)))
    fit(model, train, val, epochs=args.epochs, lr=args.lr,
        scheduler=args.scheduler, device=args.device,
        progress=False, log=lambda d: print({k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()},
                                            flush=True))
    print(task.evaluate(model, "test", 200), f"{time.time() - t0:.0f}s")
    test = task.scenes["test"]
    preds, targets = predict(model, task.batches("test", 200, shuffle=False))
    correct = (preds.argmax(-1) == targets).cpu().reshape(test.answers.shape)
    bits = test.question_bits  # bits 6/7: non-relational/relational, 8-10: subtype
    for (rel, sub), label in KINDS.items():
        mask = ((bits[..., 7] == 1) if rel else (bits[..., 6] == 1)) & (bits[..., 8 + sub] == 1)
        print(f"  {label:9s} {correct[mask].float().mean().item():.3f}")


if __name__ == "__main__":
    main()
