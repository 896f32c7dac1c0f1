"""Fault-and-bad-input probe: feed malformed inputs through mmgraph's public API and count outcomes.

Usage: python benchmarks/fuzz.py [--cases 3000] [--seed 0] [--out benchmarks/results/fuzz] [--no-files]

Every case ends in one of four outcomes:

- ``ok``: a correct output (finite, of the right shape) for an input that is valid;
- ``clear``: a ``ValueError``/``TypeError``/``FileNotFoundError`` raised by mmgraph's own code (the
  innermost frame is in the ``mmgraph`` package), whose message names the modality or argument;
  for the CLI, exit status 2 with a one-line message;
- ``obscure``: any other exception (a traceback from inside torch or PyG, an error that names
  nothing), or a CLI traceback;
- ``silent``: an output with NaN/Inf or of the wrong shape, or a corrupt file loaded without a word.

The inputs come from a seeded generator (bad dtypes, NaN/Inf/huge values, wrong ranks and
sizes, sparse and meta tensors, bad targets, bad model options), plus crafted checkpoints and
resume states, bad command lines, and ``kill -9`` during checkpoint saves (``--no-files`` skips
those). Writes ``<out>/cpu.md`` and
``<out>/cpu.json`` with the counts, the command and the machine, and lists every non-clear case.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import shlex
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

import torch

import mmgraph as mg
from mmgraph.bench.machine import machine_facts

IN_DIMS = {"image": 5, "text": 6}
OUT_DIM = 3
PACKAGE = str(Path(mg.__file__).parent)
Case = tuple[str, Callable[[], Any], list[str], bool]  # (label, run, names an error must mention, input valid)


def _innermost_in_package(exc: BaseException) -> bool:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and last.startswith(PACKAGE)


def classify(run: Callable[[], Any], names: list[str], valid: bool) -> tuple[str, str]:
    """(outcome, detail) of one case."""
    try:
        out = run()
    except CliRefusal as exc:
        named = any(n.lower().lstrip("-") in str(exc).lower() for n in names)
        return ("clear" if named else "obscure"), str(exc)[:160]
    except (ValueError, TypeError, FileNotFoundError) as exc:
        message = str(exc)
        if _innermost_in_package(exc) and any(n.lower() in message.lower() for n in names):
            return "clear", f"{type(exc).__name__}: {message[:160]}"
        return "obscure", f"{type(exc).__name__}: {message[:160]} @ {traceback.extract_tb(exc.__traceback__)[-1].filename}"
    except Exception as exc:  # noqa: BLE001 - the point is to count them
        return "obscure", f"{type(exc).__name__}: {str(exc)[:160]}"
    if isinstance(out, torch.Tensor) and (not bool(torch.isfinite(out).all()) or out.shape[-1] != OUT_DIM):
        return "silent", f"output {tuple(out.shape)}, finite={bool(torch.isfinite(out).all())}"
    if not valid:
        return "silent", "invalid input accepted"
    return "ok", ""


# ---------------------------------------------------------------- generated inputs


def _values(rng: random.Random, shape: tuple[int, ...], dtype: torch.dtype, kind: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(rng.randrange(2**31))
    x = torch.randn(shape, generator=g)
    if kind == "nan" and x.numel():
        x.view(-1)[rng.randrange(x.numel())] = float("nan")
    elif kind == "inf" and x.numel():
        x.view(-1)[rng.randrange(x.numel())] = rng.choice([float("inf"), float("-inf")])
    elif kind.startswith("huge"):
        x = x * float(kind[4:])
    if dtype in (torch.int64, torch.uint8, torch.int32):
        return (x.abs() * 3).clamp(max=200).to(dtype) if kind == "normal" else x.to(torch.float64).to(dtype)
    if dtype == torch.bool:
        return x > 0
    if dtype == torch.complex64:
        return torch.complex(x, x)
    return x.to(dtype)


def _bad_values(x: torch.Tensor) -> bool:
    """Whether ``x`` holds NaN/Inf or values beyond mmgraph's feature limit (what the input checks must refuse)."""
    if not x.is_floating_point() or not x.numel() or x.is_meta or x.layout != torch.strided:
        return False
    return not bool(torch.isfinite(x).all()) or float(x.abs().max()) > 1e15


KINDS = ["normal"] * 6 + ["nan", "inf", "huge1e38", "huge1e20", "huge1e12", "huge1e300"]
DTYPES = [torch.float32] * 5 + [torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.uint8, torch.bool,
                                torch.complex64]
TARGETS: list[tuple[Any, bool]] = [(0, True), (2, True), (-1, False), (3, False), (float("nan"), False), ("cat", False),
                                   (1.5, False), (True, False), (2**40, False), (None, True), (torch.tensor([1, 2]), False)]


def _good(rng: random.Random, name: str) -> mg.Modality:
    n = rng.randint(1, 5)
    kwargs = {"pos": torch.rand(n, 2)} if name == "image" else {"time": torch.arange(n, dtype=torch.float)}
    return mg.Modality(torch.randn(n, IN_DIMS[name]), **kwargs)


def sample_case(rng: random.Random, models: dict[str, torch.nn.Module]) -> Case:
    """A sample whose ``text`` features (and target) are drawn from good and bad values, through collate and a model."""
    dtype, kind = rng.choice(DTYPES), rng.choice(KINDS)
    n = rng.choice([0, 1, 3, 7])
    shape = rng.choice([(n, IN_DIMS["text"])] * 4 + [(n,), (n, IN_DIMS["text"], 1), (n, 2), (n, 0)])
    layout = rng.choice(["strided"] * 8 + ["sparse", "meta"])
    target, target_ok = rng.choice(TARGETS)
    name = rng.choice(sorted(models))
    x = _values(rng, shape, dtype, kind)
    if layout == "sparse" and x.dim() == 2 and dtype not in (torch.bool, torch.complex64):
        x = x.to_sparse()
    elif layout == "meta":
        x = torch.empty(shape, device="meta")
    bad_time = rng.random() < 0.1
    valid = (dtype not in (torch.bool, torch.complex64) and not _bad_values(x) and n > 0
             and shape == (n, IN_DIMS["text"]) and layout == "strided" and target_ok and not bad_time)
    label = f"sample text x={dtype}{list(shape)} {kind} {layout} y={target!r} bad_time={bad_time} -> {name}"

    def run() -> Any:
        time_ = torch.arange(max(n, 1), dtype=torch.float)[:n]
        if bad_time:
            time_ = torch.stack([time_ + 1, time_], -1)
        text = mg.Modality(x, time=time_)
        good = mg.MultimodalSample({"image": _good(rng, "image"), "text": _good(rng, "text")}, y=1)
        bad = mg.MultimodalSample({"image": _good(rng, "image"), "text": text}, y=target)
        batch = mg.collate([good, bad] if target is not None else [good.without(), bad])
        out = models[name](batch)
        if batch.y is not None:  # the training boundary checks targets against the head
            mg.train.fit(models[name], [batch], [batch], epochs=1, progress=False)
        return out

    return label, run, ["text", "x", "time", "y", "target", "sample", "collate", "modalit"], valid


def batch_case(rng: random.Random, models: dict[str, torch.nn.Module]) -> Case:
    """A padded ``ModalityBatch`` built directly (the fast path), with good or bad values."""
    dtype, kind = rng.choice(DTYPES), rng.choice(KINDS)
    b, length = rng.choice([0, 1, 4]), rng.choice([0, 1, 5])  # length 0: the modality is absent from every sample
    shape = rng.choice([(b, length, IN_DIMS["text"])] * 3 + [(b, IN_DIMS["text"]), (b, length, 2)])
    mask_kind = rng.choice(["none", "ok", "wrong-shape", "float"])
    name = rng.choice(sorted(models))
    x = _values(rng, shape, dtype, kind)
    valid = (dtype not in (torch.bool, torch.complex64) and not _bad_values(x) and b > 0
             and shape == (b, length, IN_DIMS["text"]) and mask_kind in ("none", "ok", "float"))
    label = f"batch text x={dtype}{list(shape)} {kind} mask={mask_kind} -> {name}"

    def run() -> Any:
        mask = {"none": None, "ok": torch.ones(b, length, dtype=torch.bool),
                "wrong-shape": torch.ones(b + 1, length, dtype=torch.bool), "float": torch.ones(b, length)}[mask_kind]
        text = mg.ModalityBatch(x, mask=mask, name="text")
        image = mg.ModalityBatch(torch.randn(b, 3, IN_DIMS["image"]), pos=torch.rand(b, 3, 2), name="image")
        return models[name](mg.MultimodalBatch({"image": image, "text": text}))

    return label, run, ["text", "x", "mask", "batch", "modalit"], valid


def option_case(rng: random.Random) -> Case:
    """``get_model`` with good or bad sizes and options."""
    name = rng.choice(mg.list_models())
    key = rng.choice(["hidden", "out_dim", "dropout", "in_dims"])
    bad = {"hidden": [0, -1, 1.5, True, "8", 2**40, 2**62], "out_dim": [0, -3, 2.0, None, 2**40],
           "dropout": [1.0, -0.1, float("nan"), "0.1"],
           "in_dims": [{}, {"text": 0}, {"text": 2**40}, {"text": 1.5}, {"": 3}, {"text": 2**62}, [6]]}[key]
    value = rng.choice(bad)
    opts = {"in_dims": IN_DIMS, "hidden": 8, "out_dim": OUT_DIM, key: value}
    return f"get_model({name!r}, {key}={value!r})", lambda: mg.get_model(name, **opts), [key, "in_dims", "modality"], False


# ---------------------------------------------------------------- files and command lines


class CliRefusal(Exception):
    """Exit status 2 with a one-line message: a clear refusal."""


def _cli(argv: list[str]) -> Callable[[], Any]:
    from mmgraph.cli import main

    def run() -> Any:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(argv)
        except SystemExit as exc:
            code = exc.code
        lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
        if code == 2 and lines and "Traceback" not in err.getvalue():
            raise CliRefusal(lines[-1])
        if code == 0:
            return "exit 0"
        raise RuntimeError(f"exit {code}: {err.getvalue()[-200:]}")

    return run


def _rewrite_metadata(src: Path, dst: Path, edit: Callable[[dict], Any]) -> None:
    """Copy the safetensors file ``src`` to ``dst`` with its viz metadata replaced by ``edit(metadata)``."""
    raw = src.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = json.loads(header["__metadata__"]["mmgraph.metadata"])
    new = edit(meta)  # an object, or the JSON text itself as bytes
    header["__metadata__"]["mmgraph.metadata"] = new.decode() if isinstance(new, bytes) else json.dumps(new)
    body = json.dumps(header).encode()
    body += b" " * (-len(body) % 8)
    dst.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + n:])


def file_cases(work: Path) -> list[Case]:
    """Crafted checkpoints through ``mmgraph viz --checkpoint``, bad resume states and bad command lines."""
    good = work / "good.safetensors"
    _cli(["viz", "--train", "40", "--epochs", "1", "--hidden", "8", "--no-progress", "--save-checkpoint", str(good),
          "--out", str(work / "g.png"), "--dataset-batches", "0", "--panels", "importance"])()
    viz = ["--out", str(work / "x.png"), "--no-progress", "--dataset-batches", "0", "--panels", "importance"]

    def edited(tag: str, edit: Callable[[dict], Any]) -> Path:
        path = work / f"{tag}.safetensors"
        _rewrite_metadata(good, path, edit)
        return path

    def field(key: str, value: Any) -> Callable[[dict], Any]:
        return lambda m: {**m, "mmgraph.viz": {**m["mmgraph.viz"], key: value}}

    crafted: dict[str, Path] = {}
    for key, value in [("hidden", 12000), ("hidden", -4), ("hidden", "wide"), ("train", 10**12), ("train", -1),
                       ("task", "nope"), ("model", "nope"), ("input", "voxels"), ("data_seed", -5),
                       ("data_seed", 2**80), ("hidden", 16)]:
        crafted[f"{key}={value!r}"] = edited(f"{key}-{abs(hash(repr(value)))}", field(key, value))
    crafted["metadata is a JSON array"] = edited("array", lambda m: [1, 2, 3])
    crafted["viz entry is a list"] = edited("list", lambda m: {"mmgraph.viz": [1]})
    crafted["deeply nested metadata"] = edited("deep", lambda m: b'{"deep": ' + b"[" * 100000 + b"]" * 100000 + b"}")
    raw = good.read_bytes()
    for tag, data in [("truncated", raw[: len(raw) // 2]), ("empty", b""), ("header garbage", b"\xff" * 64),
                      ("flipped tensor bytes", raw[:-5000] + bytes(b ^ 0x5A for b in raw[-5000:]))]:
        path = work / f"{tag.replace(' ', '-')}.safetensors"
        path.write_bytes(data)
        crafted[tag] = path
    cases: list[Case] = [(f"viz --checkpoint ({tag})", _cli(["viz", "--checkpoint", str(p), *viz]),
                          ["checkpoint", str(p.name)], False) for tag, p in crafted.items()]
    cases.append(("viz --checkpoint (a folder)", _cli(["viz", "--checkpoint", str(work), *viz]), ["checkpoint"], False))
    cases.append(("viz --checkpoint with --model", _cli(["viz", "--checkpoint", str(good), "--model", "concat", *viz]),
                  ["--model", "checkpoint"], False))
    afile = work / "a-file"
    afile.write_text("x")
    bench = ["bench", "sort-of-clevr", "--quick", "--models", "concat", "--seeds", "1", "--no-progress"]
    for args, names in [(["--out", str(afile)], ["--out"]), (["--out", "/proc/no/such"], ["--out"]), (["--out", ""], ["--out"]),
                        (["--lrs", "-1"], ["--lrs"]), (["--lrs", "nan"], ["--lrs"]), (["--device", "meta"], ["--device"]),
                        (["--device", "tpu:9"], ["--device"])]:
        cases.append((f"bench {shlex.join(args)}", _cli(bench + args), names, False))
    for args, names in [(["--dpi", "100000"], ["--dpi"]), (["--out", str(work / "missing" / "x.png")], ["--out"]),
                        (["--lr", "-1"], ["--lr"]), (["--lr", "inf"], ["--lr"])]:
        cases.append((f"viz {shlex.join(args)}", _cli(["viz", "--train", "20", "--epochs", "1", *viz, *args]), names, False))
    return cases + resume_cases(work)


def resume_cases(work: Path) -> list[Case]:
    """Resume states whose parts point outside their folder, or whose files are corrupt."""
    from mmgraph.train.fit import RESUME_FILE

    def run_with(edit: Callable[[Path], None], tag: str) -> Callable[[], Any]:
        def run() -> Any:
            folder = work / f"resume-{tag}"
            model = mg.get_model("concat", in_dims=IN_DIMS, hidden=8, out_dim=OUT_DIM)
            g = torch.Generator().manual_seed(0)
            batch = mg.collate([mg.MultimodalSample({"image": mg.Modality(torch.randn(2, 5, generator=g)),
                                                     "text": mg.Modality(torch.randn(3, 6, generator=g))}, y=i % 3)
                                for i in range(4)])
            mg.train.fit(model, [batch], [batch], epochs=1, checkpoint_dir=folder, progress=False)
            edit(folder)
            mg.train.fit(model, [batch], [batch], epochs=2, checkpoint_dir=folder, resume=True, progress=False)
            return "resumed"
        return run

    def escape(folder: Path) -> None:
        state = torch.load(folder / RESUME_FILE, weights_only=True)
        (work / "outside_model.pt").write_bytes((folder / state["parts"]["model"]).read_bytes())
        state["parts"]["model"] = "../outside_model.pt"
        torch.save(state, folder / RESUME_FILE)

    def corrupt(folder: Path) -> None:
        (folder / RESUME_FILE).write_bytes(b"PK\x03\x04 not a zip")

    def truncated_part(folder: Path) -> None:
        part = sorted(folder.glob("resume.*.model.pt"))[0]
        part.write_bytes(part.read_bytes()[:100])

    return [("resume part outside the folder", run_with(escape, "escape"), ["resume", "part"], False),
            ("corrupt resume.pt", run_with(corrupt, "corrupt"), ["resume.pt"], False),
            ("truncated resume part", run_with(truncated_part, "part"), ["resume"], False)]


_SAVER = """
import sys, torch
from mmgraph.train import save_checkpoint
torch.set_num_threads(1)
model = torch.nn.Linear(1500, 1500)
opt = torch.optim.AdamW(model.parameters())
model(torch.randn(2, 1500)).sum().backward()
opt.step()
for gen in range(1, 10**6):
    with torch.no_grad():
        model.weight.fill_(gen)
    opt.param_groups[0]["gen"] = gen
    save_checkpoint(sys.argv[1], model, {"gen": gen}, optimizer=opt)
    print(gen, flush=True)
"""


KILLS: list[dict[str, int]] = []  # what each kill left, for the record


def kill_cases(work: Path, rounds: int, rng: random.Random) -> list[Case]:
    """``kill -9`` a process that saves checkpoints with an optimizer, at a random moment, ``rounds`` times.

    After each kill the checkpoint must load with weights and optimizer state from the same save
    (or be refused clearly), and the next save must leave no temporary file behind.
    """
    import subprocess

    from mmgraph.train import load_checkpoint, save_checkpoint

    def one(i: int) -> Callable[[], Any]:
        def run() -> Any:
            folder = work / f"kill-{i}"
            folder.mkdir()
            path = folder / "last.safetensors"
            proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            proc.stdout.readline()  # the first save is complete
            time.sleep(rng.uniform(0.0, 1.5))
            proc.kill()
            proc.wait()
            model = torch.nn.Linear(1500, 1500)
            opt = torch.optim.AdamW(model.parameters())
            gen = load_checkpoint(path, model, optimizer=opt)["gen"]
            stale = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
            KILLS.append({"saves_done": gen, "temp_files_after_kill": len(stale),
                          "optimizer_files_after_kill": len(list(folder.glob("last.optim.*.pt")))})
            if float(model.weight[0, 0].detach()) != gen or opt.param_groups[0].get("gen") != gen:
                return torch.tensor([float("nan")])  # weights and optimizer from different saves: silent
            save_checkpoint(path, model, {"gen": gen}, optimizer=opt)
            left = sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or ".staged" in p.name)
            if left or len(list(folder.glob("last.optim.*.pt"))) != 1:
                raise RuntimeError(f"left behind after the next save: {left}")
            return torch.zeros(OUT_DIM)
        return run

    return [(f"kill -9 during save_checkpoint ({i + 1})", one(i), ["checkpoint", "optimizer"], True)
            for i in range(rounds)]


# ---------------------------------------------------------------- driver


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=3000, help="generated cases (default: 3000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results/fuzz")
    p.add_argument("--no-files", action="store_true", help="skip checkpoints, resume states and command lines")
    p.add_argument("--kills", type=int, default=20, help="kill -9 rounds during checkpoint saves (default: 20)")
    p.add_argument("--verbose", action="store_true", help="print every case's outcome")
    args = p.parse_args()
    torch.set_num_threads(1)
    start = Path.cwd()
    rng = random.Random(args.seed)
    mg.seed_everything(args.seed)
    models = {n: mg.get_model(n, in_dims=IN_DIMS, hidden=8, out_dim=OUT_DIM).eval() for n in mg.list_models()}
    t0 = time.perf_counter()
    cases: list[Case] = []
    for _ in range(args.cases):
        r = rng.random()
        cases.append(sample_case(rng, models) if r < 0.6 else batch_case(rng, models) if r < 0.9 else option_case(rng))
    counts = {"ok": 0, "clear": 0, "obscure": 0, "silent": 0}
    bad: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):  # the CLI cases write into the cwd
        if not args.no_files:
            cases += file_cases(Path(tmp)) + kill_cases(Path(tmp), args.kills, rng)
        for label, run, names, valid in cases:
            outcome, detail = classify(run, names, valid)
            counts[outcome] += 1
            if args.verbose:
                print(f"{outcome}: {label}: {detail}")
            if outcome in ("obscure", "silent"):
                bad.append({"case": label, "outcome": outcome, "detail": detail})
    seconds = time.perf_counter() - t0
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    print(f"{len(cases)} cases in {seconds:.0f} s: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for row in bad[:40]:
        print(f"  {row['outcome']}: {row['case']}: {row['detail']}")
    out = Path(args.out).resolve() if Path(args.out).is_absolute() else Path(start, args.out)
    out.mkdir(parents=True, exist_ok=True)
    mid = sum(k["temp_files_after_kill"] > 0 or k["optimizer_files_after_kill"] > 1 for k in KILLS)
    if KILLS:
        print(f"kill -9 rounds: {len(KILLS)}, {mid} of them mid-save (a temp file or a second optimizer file left)")
    record = {"command": command, "cases": len(cases), "counts": counts, "seconds": seconds, "not_clear": bad,
              "kills": KILLS,
              "machine": machine_facts()}
    (out / "cpu.json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    table = "| inputs tried | correct output | clear error | obscure error | silent wrong output |\n|---|---|---|---|---|\n"
    table += f"| {len(cases)} | {counts['ok']} | {counts['clear']} | {counts['obscure']} | {counts['silent']} |\n"
    kills = (f"`kill -9` during `save_checkpoint` with an optimizer: {len(KILLS)} rounds, {mid} of them mid-save "
             "(a temporary file or a second optimizer generation on disk after the kill); after every one the "
             "weights and the optimizer state came from the same save, and the next save left no temporary file.\n\n"
             if KILLS and not any(r["case"].startswith("kill") for r in bad) else "")
    listed = "\n".join(f"- {r['outcome']}: `{r['case']}`: {r['detail']}" for r in bad) or "(none)"
    facts = record["machine"]
    machine = (f"Machine: {facts.get('processor')}, {facts.get('torch_threads')} torch thread(s), torch "
               f"{facts.get('torch')}, Python {facts.get('python')}; {seconds:.0f} s.\n\n")
    (out / "cpu.md").write_text(f"# Fuzz: bad inputs and faults through the public API\n\n`{command}`\n\n{machine}"
                                f"{table}\n{kills}"
                                f"Cases that did not end in a correct output or a clear error:\n\n{listed}\n")


if __name__ == "__main__":
    main()
