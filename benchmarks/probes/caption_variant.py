"""Train one captioning model and print, every epoch, how often its greedy captions are true.

Usage: python benchmarks/probes/caption_variant.py MODEL [--images 4000] [--epochs 40] [--lr 3e-3]
       [--hidden 64] [--seed 0] [--oracle | --inverse-oracle] [--distance-prior C] [--linear-probe] [--scheduler none]
       [--warmup-epochs N]
       [--model-arg KEY=VALUE ...]

MODEL: ``caption-graph`` or ``caption-pooled``, configured as in ``mmgraph bench captioning``
(Transformer decoder; ``caption-graph`` with ``distance_prior=30``) unless ``--model-arg``
overrides it, e.g. ``--model-arg decoder='"gru"' --model-arg distance_prior=0``. Each epoch
prints the validation NLL (what the benchmark selects by) and, on 500 validation images
decoded greedily, the relation exact match (``em``) and the fraction of captions whose
statements about closest/furthest objects (``em_extreme``) and about left/right/above/below
(``em_spatial``) all hold, and per relation (``true``) the fraction of closest / furthest
statements that hold. A probe for model design, not a benchmark result: one seed, no sweep.
"""

from __future__ import annotations

import argparse
import ast
import time

import torch

from mmgraph.bench.runner import build_model
from mmgraph.bench.tasks import CaptioningTask
from mmgraph.datasets.captions import parse_caption
from mmgraph.nn.conv.hetero_relational import HeteroRelationalConv
from mmgraph.train.fit import fit


def _statement_truth(text: str, shapes, positions) -> list[tuple[str, bool]]:  # noqa: ANN001
    """``(relation, holds)`` of each statement of ``text``; empty when it does not parse."""
    from mmgraph.datasets.captions import caption_is_true

    parsed = parse_caption(text)
    if not parsed:
        return []
    out = []
    for part in text.split(";"):
        relation = parse_caption(part.strip())
        if relation:
            out.append((relation[0][0], caption_is_true(part.strip(), shapes, positions)))
    return out


def _add_oracle(task: CaptioningTask, inverse: bool = False) -> None:
    """Diagnostic: give every object the colours of its closest and furthest objects as features.

    With ``inverse``, instead the colours of the objects whose closest (furthest) object it is (multi-hot).
    """
    for data in task.data.values():
        pos = data.scenes.positions.float()
        d = torch.cdist(pos, pos)
        eye = torch.eye(d.size(-1), dtype=torch.bool)
        closest = d.masked_fill(eye, float("inf")).argmin(-1)
        furthest = d.masked_fill(eye, float("-inf")).argmax(-1)
        facts = [torch.nn.functional.one_hot(f, 6).float() for f in (closest, furthest)]
        if inverse:  # row i, column j: object j's closest (furthest) is object i
            facts = [f.transpose(-1, -2) for f in facts]
        data.scenes.states = torch.cat([data.scenes.states, *facts], -1)


def _distance_biases(model: torch.nn.Module) -> list[list[float]]:
    """Per relational layer, each head's edge-score bias on the distance (the last edge attribute)."""
    out = []
    for conv in model.modules():
        if isinstance(conv, HeteroRelationalConv) and conv.score_edge is not None:
            for dim, _src, _dst, _rows, cols in conv._blocks():
                if dim:
                    bias = conv.score_edge[-1, cols].detach().view(conv.heads, dim)[:, -1]
                    out.append([round(float(x), 1) for x in bias])
    return out


@torch.no_grad()
def _linear_probe(task: CaptioningTask, model: torch.nn.Module) -> None:
    """Accuracy of a logistic regression reading each object's closest / furthest object from its node state.

    Fit on the objects of the first 250 validation images, scored on the other 250 (chance is about 0.2).
    """
    from sklearn.linear_model import LogisticRegression

    model.eval()
    batch = next(iter(task.batches("val", len(task.data["val"]), False)))
    memory = model.memory(batch)[0]
    x = memory.reshape(-1, memory.size(-1)).numpy()
    pos = task.data["val"].scenes.positions.float()
    d = torch.cdist(pos, pos)
    eye = torch.eye(d.size(-1), dtype=torch.bool)
    half = x.shape[0] // 2
    for name, target in (("closest", d.masked_fill(eye, float("inf")).argmin(-1)),
                         ("furthest", d.masked_fill(eye, float("-inf")).argmax(-1))):
        y = target.reshape(-1).numpy()
        clf = LogisticRegression(max_iter=2000).fit(x[:half], y[:half])
        print(f"{name}: {clf.score(x[half:], y[half:]):.3f}", flush=True)
    for name, target in (("closest", d.masked_fill(eye, float("inf")).argmin(-1)),
                         ("furthest", d.masked_fill(eye, float("-inf")).argmax(-1))):
        # inverse: per node, the set of objects whose closest (furthest) it is, one classifier per object
        sets = torch.nn.functional.one_hot(target, 6).transpose(-1, -2).reshape(-1, 6).numpy()
        right = sets[half:] == sets[half:]
        for c in range(6):
            clf = LogisticRegression(max_iter=2000).fit(x[:half], sets[:half, c])
            right[:, c] = clf.predict(x[half:]) == sets[half:, c]
        empty = (sets[half:].sum(-1) == 0).mean()
        print(f"inverse {name}: whole set right {right.all(-1).mean():.3f} (an empty set for every node: {empty:.3f})",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--scheduler", default="cosine", choices=["cosine", "none"])
    parser.add_argument("--warmup-epochs", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--oracle", action="store_true",
                        help="append each object's closest and furthest object's colour (one-hot) to its state")
    parser.add_argument("--inverse-oracle", action="store_true",
                        help="append the colours of the objects whose closest / furthest object it is (multi-hot) to "
                             "each object's state")
    parser.add_argument("--distance-prior", type=float, default=None,
                        help="the model's distance_prior C: the first two target (and source) heads of every relational "
                             "layer start scoring neighbours by -C and +C times the distance (same as --model-arg "
                             "distance_prior=C)")
    parser.add_argument("--linear-probe", action="store_true",
                        help="only print how well a logistic regression reads each object's closest and furthest "
                             "object from the untrained encoder's node states, then exit")
    parser.add_argument("--gate-bias", type=float, default=None,
                        help="start every relational layer's edge gate at sigmoid(B) for every edge (its weights at 0), "
                             "e.g. -10 to start from the softmax heads alone")
    parser.add_argument("--model-arg", action="append", default=[], help="KEY=VALUE passed to the model factory")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = CaptioningTask(sizes=(args.images, 500, 100))
    task.load(quick=False)
    task.use(args.model, seed=args.seed)
    if args.oracle or args.inverse_oracle:
        _add_oracle(task, inverse=args.inverse_oracle)
    extra = {k: ast.literal_eval(v) for k, v in (a.split("=", 1) for a in args.model_arg)}
    if args.oracle or args.inverse_oracle:
        extra["in_dims"] = {"objects": 22}
    if args.distance_prior is not None:
        extra["distance_prior"] = args.distance_prior
    if extra:
        base = task.model_kwargs
        task.model_kwargs = lambda name, hidden: {**base(name, hidden), **extra}  # type: ignore[method-assign]
    model = build_model(task, args.model, args.hidden, seed=args.seed)
    if args.gate_bias is not None:
        with torch.no_grad():
            for conv in model.modules():
                if isinstance(conv, HeteroRelationalConv):
                    conv.heads_w[:, 0, :-1] = 0.0
                    conv.heads_w[:, 0, -1] = args.gate_bias
    print(f"{args.model} {extra}: {sum(p.numel() for p in model.parameters()):,} parameters", flush=True)
    if args.linear_probe:
        _linear_probe(task, model)
        return
    data = task.data["val"]
    scenes = [data.scene(i) for i in range(len(data))]

    def report(record: dict) -> None:
        texts = task.generate(model, "val", 250, beam_size=1)
        em = ext = spa = 0
        n_ext = n_spa = 0
        per_relation = {"closest_to": [0, 0], "furthest_from": [0, 0]}  # [true, stated]
        for text, (shapes, pos) in zip(texts, scenes):
            truth = _statement_truth(text, shapes, pos)
            em += bool(truth) and all(t for _, t in truth)
            for r, t in truth:
                if r in per_relation:
                    per_relation[r][0] += t
                    per_relation[r][1] += 1
            e = [t for r, t in truth if r in ("closest_to", "furthest_from")]
            s = [t for r, t in truth if r not in ("closest_to", "furthest_from")]
            if e:
                n_ext += 1
                ext += all(e)
            if s:
                n_spa += 1
                spa += all(s)
        priors = _distance_biases(model)
        shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in record.items() if k != "lr"}
        true_by_relation = {r: round(t / max(n, 1), 3) for r, (t, n) in per_relation.items()}
        print(shown | {"em": round(em / len(texts), 3), "em_extreme": round(ext / max(n_ext, 1), 3),
                       "em_spatial": round(spa / max(n_spa, 1), 3), "true": true_by_relation, "distance_bias": priors,
                       "sample": texts[0]}, flush=True)

    t0 = time.time()
    fit(model, task.batches("train", args.batch_size, True, seed=args.seed), task.batches("val", args.batch_size, False),
        loss=task.loss_fn(), metrics=task.val_metrics(), monitor="nll", mode="min", epochs=args.epochs, lr=args.lr,
        seed=args.seed, progress=False, log=report, scheduler=args.scheduler, warmup_epochs=args.warmup_epochs)
    print(f"{time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
