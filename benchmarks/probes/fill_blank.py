"""Can a pair graph fill in a hidden word of a one-statement caption from the scene (a question with an answer)?

Usage: python benchmarks/probes/fill_blank.py [--model rerank-graph|fusion-only] [--layers 2] [--window 2]
       [--images 4000] [--epochs 12] [--lr 1e-3] [--batch-size 64] [--maskable colours|content]

Every training caption states one closest/furthest fact ("the green circle is the furthest from
the gray square"); one colour word (``--maskable colours``) or colour or shape word
(``content``) has its word features zeroed, and the model (out_dim = the caption vocabulary)
predicts it. Filling in the subject's colour is the relational question "which object is
furthest from the gray square?"; filling in the anchor's colour is often ambiguous (several
objects can have the same furthest object). ``fusion-only`` is the Sort-of-CLEVR graph: no
token-object edges, a fusion node, messages conditioned on the caption. Prints the validation
accuracy per epoch, then per (relation, role, word kind). A probe for model design, not a result.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import mmgraph as mg
from mmgraph.bench.tasks.base import Batches
from mmgraph.datasets.captions import CAPTION_VOCAB, COLORS, SHAPES, SceneCaptions
from mmgraph.datasets.sort_of_clevr import sort_of_clevr_splits
from mmgraph.graph import GraphBuilder, edges
from mmgraph.train.fit import fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("rerank-graph", "fusion-only"), default="rerank-graph")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=48)
    parser.add_argument("--maskable", choices=("colours", "content"), default="content")
    args = parser.parse_args()
    torch.set_num_threads(1)
    scenes = sort_of_clevr_splits(args.images, 500, 10, seed=0)
    data = {s: SceneCaptions(scenes[s], 5, 1, seed=i, max_len=13) for i, s in enumerate(("train", "val"))}
    words = set(COLORS) | (set() if args.maskable == "colours" else set(SHAPES))
    maskable = torch.tensor([w in words for w in CAPTION_VOCAB])
    vocab = len(CAPTION_VOCAB)

    def masked(split: str, idx: torch.Tensor, seed: int) -> tuple[mg.MultimodalBatch, torch.Tensor]:
        d = data[split]
        images, k = idx // d.num_captions, idx % d.num_captions
        tokens, lengths = d.tokens[images, k], d.lengths[images, k]
        batch = d.pair_batch(images, tokens, lengths)
        candidates = maskable[tokens] & (torch.arange(tokens.size(1)) < lengths[:, None])
        g = torch.Generator().manual_seed(int(idx.sum()) + seed)
        pick = torch.multinomial(candidates.float(), 1, generator=g).squeeze(1)
        rows = torch.arange(len(idx))
        x = batch["caption"].x.clone()
        x[rows, pick, :vocab] = 0.0
        batch["caption"].x = x
        return mg.MultimodalBatch(dict(batch.items()), y=tokens[rows, pick]), pick

    def batches(split: str, size: int, shuffle: bool) -> Batches:
        counter = iter(range(10**9))
        return Batches(lambda idx: masked(split, idx, next(counter) if split == "train" else 0)[0],
                       len(data[split]) * data[split].num_captions, 1, size, shuffle, 0)

    mg.seed_everything(0)
    dims = {"objects": 10, "caption": data["train"].text_dim}
    if args.model == "fusion-only":
        builder = GraphBuilder(intra={"objects": edges.Full(attr="pos"),
                                      "caption": edges.Sequential(window=args.window, attr="onehot")}, fusion_node=True)
        model = mg.nn.GraphFusionModel(dims, args.hidden, vocab, builder=builder, conv="relational",
                                       num_layers=args.layers, condition="caption", task="classification")
    else:
        model = mg.get_model("rerank-graph", in_dims=dims, hidden=args.hidden, out_dim=vocab, num_layers=args.layers,
                             window=args.window)
    print(f"{args.model} {vars(args)}: {sum(p.numel() for p in model.parameters()):,} parameters", flush=True)
    t0 = time.time()
    fit(model, batches("train", args.batch_size, True), batches("val", 256, False), epochs=args.epochs, lr=args.lr,
        progress=False, log=lambda rec: print({k: round(v, 3) if isinstance(v, float) else v for k, v in rec.items()},
                                              flush=True))
    model.eval()
    groups: dict[tuple[str, str, str], list[bool]] = {}
    d = data["val"]
    with torch.no_grad():
        for start in range(0, len(d) * d.num_captions, 250):
            idx = torch.arange(start, min(start + 250, len(d) * d.num_captions))
            batch, pick = masked("val", idx, 0)
            right = (model(batch).argmax(1) == batch.y).tolist()
            for j, ok in enumerate(right):
                fact = d.captions[int(idx[j]) // d.num_captions][int(idx[j]) % d.num_captions].facts[0]
                role = "subject" if int(pick[j]) <= 2 else "anchor"
                kind = "colour" if CAPTION_VOCAB[int(batch.y[j])] in COLORS else "shape"
                groups.setdefault((fact.relation, role, kind), []).append(ok)
    for key, oks in sorted(groups.items()):
        print(*key, f"accuracy {np.mean(oks):.3f} over {len(oks)}")
    print(f"{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
