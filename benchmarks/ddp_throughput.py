"""Training throughput of 2 processes x 1 thread (torchrun, DDP) against 1 process x 2 threads.

Usage: python benchmarks/ddp_throughput.py [--models graph-relational,concat] [--images 500] [--batch-size 64]
       [--epochs 2] [--rounds 3] [--device cpu] [--out benchmarks/results/ddp_throughput]

State Sort-of-CLEVR (``--images`` training images, 20 questions each), trained with
``mmgraph.train.fit`` as ``mmgraph bench`` does. Each configuration runs in fresh processes,
alternating (A, B, A, B, ...) over ``--rounds``; the figure of a run is the number of training
samples over the training seconds of its last epoch (the first one warms up). The table gives
the median per configuration and the ratio. With ``--device cuda`` it compares 1 GPU with as
many processes as there are GPUs (one GPU each).
Writes ``cpu.md``/``cpu.json`` (or ``cuda.md``/``cuda.json``) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch


def worker(model_name: str, images: int, batch_size: int, epochs: int, device: str) -> None:
    """One run (one process, or one of torchrun's): prints the throughput from rank 0."""
    from mmgraph.bench.budget import build_model
    from mmgraph.bench.tasks import SortOfCLEVRTask
    from mmgraph.train import fit

    task = SortOfCLEVRTask(input="state", sizes=(images, 50, 50))
    task.load(quick=False)
    model = build_model(task, model_name, 64, seed=0)
    train = task.batches("train", batch_size, shuffle=True, seed=0)
    result = fit(model, train, task.batches("val", batch_size, shuffle=False), loss=task.loss_fn(),
                 metrics=task.val_metrics(), monitor=task.monitor, mode=task.mode, epochs=epochs, lr=1e-3,
                 progress=False, device=device)
    if int(os.environ.get("RANK", "0")) == 0:
        seconds = result.history[-1]["train_seconds"]
        print(json.dumps({"samples_per_s": task.num_samples("train") / seconds, "train_seconds": seconds}))


def _launch(cfg: dict, args: argparse.Namespace, model: str) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(cfg["threads"])}
    here = [str(Path(__file__).resolve()), "--worker", model, "--images", str(args.images), "--batch-size",
            str(args.batch_size), "--epochs", str(args.epochs), "--device", args.device,
            "--threads", str(cfg["threads"])]
    cmd = [sys.executable, *here]
    if cfg["processes"] > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={cfg['processes']}",
               *here]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{cfg['name']} failed:\n{done.stderr[-3000:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    return float(json.loads(line)["samples_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=lambda s: s.split(","), default=["graph-relational", "concat"])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="benchmarks/results/ddp_throughput")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        torch.set_num_threads(args.threads)
        return worker(args.worker, args.images, args.batch_size, args.epochs, args.device)

    from mmgraph.bench.machine import machine_facts
    from mmgraph.utils.io import atomic_write_text

    gpus = torch.cuda.device_count() if args.device == "cuda" else 0
    many = max(2, gpus)
    configs = [{"name": "1 process x 2 threads", "processes": 1, "threads": 2},
               {"name": f"{many} processes x 1 thread", "processes": many, "threads": 1}]
    rows = []
    for model in args.models:
        runs: dict[str, list[float]] = {c["name"]: [] for c in configs}
        for r in range(args.rounds):
            for cfg in configs:
                runs[cfg["name"]].append(_launch(cfg, args, model))
                print(f"{model} round {r + 1}: {cfg['name']}: {runs[cfg['name']][-1]:,.0f} samples/s", flush=True)
        medians = {name: statistics.median(v) for name, v in runs.items()}
        one, two = (medians[c["name"]] for c in configs)
        rows.append({"model": model, "runs": runs, "median": medians, "ratio": two / one})
    flags = (f"--models {','.join(args.models)} --images {args.images} --batch-size {args.batch_size} "
             f"--epochs {args.epochs} --rounds {args.rounds} --device {args.device}")
    result = {"rows": rows, "command": f"python benchmarks/ddp_throughput.py {flags}",
              "machine": machine_facts(args.device)}
    head = f"| model | {configs[0]['name']} (samples/s) | {configs[1]['name']} (samples/s) | ratio |\n|---|---|---|---|\n"
    body = "".join(f"| {r['model']} | {r['median'][configs[0]['name']]:,.0f} | {r['median'][configs[1]['name']]:,.0f} "
                   f"| {r['ratio']:.2f}x |\n" for r in rows)
    print(head + body)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "cuda" if args.device == "cuda" else "cpu"
    facts = "\n".join(f"- **{k}**: {v}" for k, v in result["machine"].items())
    per_run = "\n".join(f"- {r['model']}: " + "; ".join(f"{k}: {', '.join(f'{x:,.0f}' for x in v)}"
                                                        for k, v in r["runs"].items()) for r in rows)
    atomic_write_text(out / f"{name}.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / f"{name}.md", f"# Training throughput: processes against threads\n\n```bash\n"
                      f"{result['command']}\n```\n\nMedian of {args.rounds} alternating runs, training samples per "
                      f"second of the last epoch:\n\n{head}{body}\nEvery run:\n\n{per_run}\n\n## Machine\n\n{facts}\n")


if __name__ == "__main__":
    main()
