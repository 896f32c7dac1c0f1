"""One process of the 2-process tests in test_distributed.py (run by torchrun, or alone for the reference).

Usage: python ddp_worker.py MODEL OUT [--epochs N] [--stop-after K] [--resume] [--own-dir]
Trains MODEL with fit on a small fixed dataset (global batches of 8, dropout off) and writes, from
every rank, OUT/rank<r>.json (what it saw) and, from rank 0, OUT/weights.pt (the final weights and test outputs).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

import mmgraph as mg
from mmgraph.train import Trainer


class Stop(Exception):
    pass


def data(n: int, seed: int) -> list:
    g = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(n):
        text = torch.randn(int(torch.randint(2, 6, (1,), generator=g)), 6, generator=g)
        image = mg.Modality(torch.randn(3, 4, generator=g), pos=torch.rand(3, 2, generator=g))
        samples.append(mg.MultimodalSample(text=text, image=image, y=int(text[0, 0] > 0) + int(image.x[0, 0] > 0)))
    return [mg.collate(samples[i:i + 8]) for i in range(0, n, 8)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--stop-after", type=int, default=0, help="raise after saving this epoch's resume state")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--own-dir", action="store_true", help="each rank its own checkpoint folder")
    parser.add_argument("--nan-on-rank1", action="store_true", help="rank 1's loss is NaN")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", "0"))
    if args.stop_after:
        original = Trainer.save_resume_state

        def save_then_stop(self, train):  # noqa: ANN001, ANN202 - an interruption after an epoch, on every rank
            original(self, train)
            if len(self.history) == args.stop_after:
                raise Stop

        Trainer.save_resume_state = save_then_stop
    torch.manual_seed(0)
    model = mg.get_model(args.model, in_dims={"text": 6, "image": 4}, hidden=8, out_dim=3)
    ckpt = args.out / (f"ckpt{rank}" if args.own_dir else "ckpt")
    seen = {"rank": rank, "world": int(os.environ.get("WORLD_SIZE", "1"))}
    try:
        nan = float("nan") if args.nan_on_rank1 and rank == 1 else 1.0
        loss = (lambda out, y: torch.nn.functional.cross_entropy(out, y) * nan) if args.nan_on_rank1 else None
        result = mg.train.fit(model, data(48, 1), data(24, 2), test=data(16, 3), epochs=args.epochs, lr=3e-3,
                              checkpoint_dir=ckpt, resume=args.resume, progress=False, seed=0, loss=loss)
        seen.update(best_val=result.best_val, test=result.test, history=[h["train_loss"] for h in result.history])
    except Stop:
        seen["stopped"] = True
    if rank == 0 and "stopped" not in seen:
        with torch.no_grad():
            outputs = torch.cat([model(b) for b in data(16, 3)])
        torch.save({"weights": model.state_dict(), "outputs": outputs}, args.out / "weights.pt")
    (args.out / f"rank{rank}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main()
