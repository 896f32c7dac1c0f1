"""Run a benchmark: every model × seed on one task, on equal terms, resumably."""

from __future__ import annotations

import json
import numbers
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import nn

from mmgraph.bench.budget import build_model, count_parameters, match_budget
from mmgraph.bench.machine import machine_facts, peak_memory_mb, reset_peak_memory
from mmgraph.bench.results import RunRecord, RunStore, aggregate, write_results
from mmgraph.bench.tasks.base import BenchTask
from mmgraph.graph.prebuilt import with_graphs
from mmgraph.registry import list_models
from mmgraph.train.fit import SCHEDULERS, default_loss, fit, predict
from mmgraph.utils.io import atomic_write_text
from mmgraph.utils.lock import run_lock
from mmgraph.train.distributed import Distributed, from_environment, on_main

__all__ = ["BenchConfig", "run_benchmark", "match_budget", "build_model", "training_memory_mb"]


@dataclass
class BenchConfig:
    """Settings of one benchmark run (recorded in ``results.json``).

    Attributes:
        models: Registered model names.
        seeds: Seeds; each (model, seed) is one training run.
        epochs: Training epochs per run (early stopping may end it sooner).
        batch_size: Samples per batch.
        hidden: Width of the reference model; every other model's width is chosen so that
            its parameter count is as close as possible to the reference's.
        reference: Model whose parameter count sets the budget (default: the first graph model;
            ``mmgraph bench`` passes the task's first default model, so that runs of any
            subset of models share one budget). It need not be among ``models``.
        lrs: Learning rates of the sweep; the one with the best validation metric after
            ``sweep_epochs`` epochs (seed 0) is used for every seed of that model.
        sweep_epochs: Epochs per sweep run.
        scheduler: The learning-rate schedule of every run (``fit(scheduler=...)``): ``"cosine"``
            (decay to 0 at the last step) or ``"none"`` (a constant rate).
        patience: Early-stopping patience in epochs (``None``: off).
        data_seed: Seed of the generated data (the same for every model and seed).
        quick: Small data and few epochs (a smoke run; not a result).
    """

    models: list[str]
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    epochs: int = 20
    batch_size: int = 64
    hidden: int = 64
    reference: Optional[str] = None
    lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3)
    sweep_epochs: int = 3
    scheduler: str = "cosine"
    patience: Optional[int] = None
    data_seed: int = 0
    quick: bool = False

    def __post_init__(self) -> None:
        unknown = sorted((set(self.models) | ({self.reference} if self.reference else set())) - set(list_models(None)))
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; registered: {list_models(None)}")
        if not self.models:
            raise ValueError("models: expected at least one model name, got none")
        for name in ("epochs", "batch_size", "hidden", "sweep_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if not self.seeds:
            raise ValueError("seeds: expected at least one seed, got none")
        if not self.lrs or any(lr <= 0 for lr in self.lrs):
            raise ValueError(f"lrs: expected positive learning rates, got {self.lrs!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler: expected one of {list(SCHEDULERS)}, got {self.scheduler!r}")
        if self.reference is None:
            graph = [m for m in self.models if m.startswith("graph-")]
            self.reference = graph[0] if graph else self.models[0]


def _params(model: nn.Module) -> int:
    return count_parameters(model)


def training_memory_mb(model: nn.Module, batch: Any, loss_fn: Callable[[Any, Any], Any]) -> float:
    """Memory one training step of ``model`` needs on ``batch``, in MiB.

    On CUDA: the peak allocation of a forward and backward pass (``max_memory_allocated``).
    On CPU, where the process's resident set is shared by every run and reused by the
    allocator, it is computed: the distinct storages autograd saves for the backward pass
    (recorded with saved-tensor hooks) plus parameters, gradients and AdamW's two moment
    buffers (4 × parameter bytes).
    """
    device = next(model.parameters()).device
    model.train()
    if device.type == "cuda":
        reset_peak_memory(device)
        loss_fn(model(batch), batch.y).backward()
        model.zero_grad(set_to_none=True)
        return peak_memory_mb(device)
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn(model(batch), batch.y)
    loss.backward()
    model.zero_grad(set_to_none=True)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return (sum(storages.values()) + 4 * param_bytes) / 2**20


def _history(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`fit`'s per-epoch records as plain JSON values (kept in each run's ``extra``)."""
    plain: list[dict[str, Any]] = []
    for record in history:
        row: dict[str, Any] = {}
        for key, value in record.items():
            if isinstance(value, (str, bool)):
                row[key] = value
            elif isinstance(value, numbers.Real):
                row[key] = int(value) if key == "epoch" else float(value)
        plain.append(row)
    return plain


def _partial_dir(out: Path, run: str) -> Path:
    """Where an unfinished run keeps the state it resumes from (``fit(resume=True)``), removed when it ends."""
    return out / "partial" / run


def _remove_partial(path: Path) -> None:
    """Remove a finished run's resume state, and ``partial/`` itself once nothing else is left in it."""
    shutil.rmtree(path, ignore_errors=True)
    try:
        path.parent.rmdir()
    except OSError:  # other runs still in progress (or already gone)
        pass


def _fit(task: BenchTask, model: nn.Module, cfg: BenchConfig, lr: float, epochs: int, seed: int, progress: bool,
         device: torch.device, partial: Path, machine: dict[str, Any], ctx: Optional[Distributed] = None):
    # each epoch's record names where it ran: a run resumed in another session may finish elsewhere
    tags = {k: machine[k] for k in ("processor", "device", "torch_threads") if isinstance(machine.get(k), (str, int))}
    train, val = task.batches("train", cfg.batch_size, shuffle=True, seed=seed), task.batches("val", cfg.batch_size, shuffle=False)
    collate = getattr(model, "collate_fn", None)
    if callable(collate) and ctx is None:  # graph models: graphs built where the data is loaded, a batch ahead
        train, val = with_graphs(train, collate()), with_graphs(val, collate())
    return fit(
        model,
        train,
        val,
        loss=task.loss_fn(),
        metrics=task.val_metrics(),
        monitor=task.monitor,
        mode=task.mode,
        epochs=epochs,
        lr=lr,
        scheduler=cfg.scheduler,
        patience=cfg.patience,
        seed=seed,
        progress=progress,
        device=device,
        checkpoint_dir=partial,
        resume=True,
        history_tags=tags,
    )


def _run_sweep(task: BenchTask, name: str, hidden: int, cfg: BenchConfig, store: RunStore,
               say: Callable[[str], None], progress: bool, device: torch.device,
               machine: dict[str, Any], ctx: Optional[Distributed] = None) -> dict[float, float]:
    """Validation score per learning rate of ``cfg.lrs`` (seed 0), saved in ``store``."""
    results = {}
    task = task.for_model(name, seed=0, out_dir=store.out_dir)
    for lr in cfg.lrs:
        model = build_model(task, name, hidden, seed=0)
        partial = _partial_dir(store.out_dir, f"sweep-{name}-lr{lr:g}")
        fit_result = _fit(task, model, cfg, lr, cfg.sweep_epochs, seed=0, progress=progress, device=device,
                          partial=partial, machine=machine, ctx=ctx)
        results[lr] = float(fit_result.best_val[task.monitor])
        say(f"  sweep {name} lr={lr:g}: val {task.monitor}={results[lr]:.4f}")
    def save() -> None:
        store.save_sweep(name, results)
        for lr in cfg.lrs:
            _remove_partial(_partial_dir(store.out_dir, f"sweep-{name}-lr{lr:g}"))

    on_main(ctx, save)
    return results


def _lock(ctx: Optional[Distributed], out: Path, name: str, say: Callable[[str], None]) -> Any:
    """The lock of run ``name`` (taken by rank 0 alone when several processes train together)."""
    return run_lock(out, name, say) if ctx is None or ctx.is_main else nullcontext()


def _sweep(task: BenchTask, name: str, hidden: int, cfg: BenchConfig, store: RunStore, say: Callable[[str], None],
           progress: bool, device: torch.device, machine: dict[str, Any], ctx: Optional[Distributed] = None) -> float:
    if len(cfg.lrs) == 1:
        return cfg.lrs[0]
    results = on_main(ctx, lambda: store.load_sweep(name))
    if results is None:
        with _lock(ctx, store.out_dir, f"sweep-{name}", say):
            # another process may have finished it while this one waited
            results = on_main(ctx, lambda: store.load_sweep(name))
            if results is None:
                results = _run_sweep(task, name, hidden, cfg, store, say, progress, device, machine, ctx)
    pick = max if task.for_model(name, seed=0, out_dir=store.out_dir).mode == "max" else min
    return float(pick(results, key=lambda lr: results[lr]))


def _run_machines(
    records: Sequence[RunRecord], here: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, str]]:
    """The machines of the finished runs: ``(the report's machine, distinct machines, devices per model)``.

    A run records the machine it trained on (``extra["machine"]``); runs from before that was
    recorded count as this machine (``here``). The report's machine is the most common one
    (the first seen among equals).
    """
    machines = [r.extra.get("machine") or here for r in records]
    distinct: list[dict[str, Any]] = []
    for m in machines:
        if m not in distinct:
            distinct.append(m)
    devices: dict[str, set[str]] = {}
    for r, m in zip(records, machines):
        devices.setdefault(r.model, set()).add(str(m["device"]))
    per_model = {name: ", ".join(sorted(d)) for name, d in sorted(devices.items())}
    return max(distinct, key=machines.count), distinct, per_model


SETTINGS_FILE = "settings.json"
BUDGET_KEY = "budget"


def _check_settings(out: Path, task: BenchTask, cfg: BenchConfig, budget: int) -> int:
    """Record the settings that finished runs depend on; refuse to mix runs made with other settings.

    Models and seeds may change between invocations (that is how a benchmark is resumed
    or extended); everything else must match the first invocation in ``out``. The parameter
    budget given at the first invocation is stored with the settings,
    so that every later invocation matches widths to the same number even if the reference
    model has changed since (its own count is reported either way).

    Returns:
        The parameter budget of ``out``.
    """
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("models", "seeds")}
    if settings["scheduler"] == "cosine":  # the only schedule before it was a setting: older folders stay valid
        del settings["scheduler"]
    settings = json.loads(json.dumps({"task": task.name, **settings}))  # tuples -> lists, as stored
    path = out / SETTINGS_FILE
    if path.exists():
        stored = json.loads(path.read_text())
        target = stored.pop(BUDGET_KEY, None)
        diff = sorted(k for k in set(stored) | set(settings) if stored.get(k) != settings.get(k))
        if diff:
            details = ", ".join(f"{k}: {stored.get(k)!r} there, {settings.get(k)!r} now" for k in diff)
            raise ValueError(
                f"{out} holds runs made with other settings ({details}); "
                "use another --out, or delete that folder to start over"
            )
        if target is not None:
            return int(target)
    target = budget
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({**settings, BUDGET_KEY: target}, indent=2) + "\n")
    return target


def _run_one(task: BenchTask, name: str, seed: int, hidden: int, lr: float, cfg: BenchConfig, store: RunStore,
             say: Callable[[str], None], progress: bool, device: torch.device, facts: dict[str, Any],
             ctx: Optional[Distributed] = None) -> None:
    """Train, evaluate and save one (model, seed) run; its resume state lives in ``partial/`` until it is saved."""
    out = store.out_dir
    task = task.for_model(name, seed=seed, out_dir=out)
    model = build_model(task, name, hidden, seed=seed)
    first = next(iter(task.batches("train", cfg.batch_size, shuffle=False)))
    loss_fn = task.loss_fn() or default_loss(task.task)
    memory = training_memory_mb(build_model(task, name, hidden, seed=seed).to(device), first.to(device), loss_fn)
    partial = _partial_dir(out, f"{name}__seed{seed}")
    result = _fit(task, model, cfg, lr, cfg.epochs, seed=seed, progress=progress, device=device,
                  partial=partial, machine=facts, ctx=ctx)
    on_main(ctx, lambda: task.after_fit(name, seed, model, dict(result.best_val), hidden))
    metrics = task.evaluate(model, "test", cfg.batch_size)
    names = tuple(task.metric_names) or tuple(metrics)
    t0 = time.perf_counter()
    predict(model, task.batches("test", cfg.batch_size, shuffle=False))
    infer_s = time.perf_counter() - t0
    record = RunRecord(
        model=name,
        seed=seed,
        lr=lr,
        params=_params(model),
        metrics={k: float(metrics[k]) for k in names},
        train_s_per_epoch=float(result.train_s_per_epoch),
        infer_samples_per_s=task.num_samples("test") / max(infer_s, 1e-9),
        peak_mem_mb=float(memory),
        epochs_run=int(result.epochs_run),
        best_epoch=int(result.best_epoch),
        extra={"hidden": hidden, "machine": facts, "history": _history(result.history)},
    )
    on_main(ctx, lambda: (store.save(record), _remove_partial(partial)))
    main = ", ".join(f"{k}={record.metrics[k]:.3f}" for k in names[:3])
    say(f"  {name} seed {seed}: {main} ({record.train_s_per_epoch:.1f} s/epoch)")


def run_benchmark(
    task: BenchTask,
    cfg: BenchConfig,
    out_dir: str | Path,
    command: str = "",
    progress: bool = True,
    say: Callable[[str], None] = print,
    report_only: bool = False,
    device: Union[str, torch.device] = "cpu",
) -> dict[str, Any]:
    """Run every (model, seed) of ``cfg`` on ``task`` and write ``results.json``, ``results.md``, ``results.png``.

    The results aggregate every finished run in ``out_dir`` for ``cfg.seeds`` — also runs of
    models that an earlier invocation (e.g. another process) trained into the same folder, whose
    settings :func:`_check_settings` guarantees are the same. ``config["missing"]`` lists the
    ``model/seed`` runs of the task's default models that are not finished yet.
    ``report_only=True`` trains nothing and only writes the results of the finished runs.
    ``device`` is where models train and are evaluated (``"cpu"``, ``"cuda"``, ...); each
    run records the machine it ran on, and ``results.json``'s ``"machine"`` describes the
    machine of the runs (``config["run_machines"]`` lists them when they differ).

    Finished (model, seed) runs are stored under ``out_dir/runs/`` as they complete and
    skipped when the benchmark is run again with the same ``out_dir`` (resumable); a run
    (or sweep run) that was interrupted continues from its last finished epoch, kept under
    ``out_dir/partial/`` until the run is saved (:func:`~mmgraph.train.fit` with
    ``resume=True``). Every
    model gets the same data, inputs and graph, a width matched to the reference model's
    parameter count, and its own learning rate from the sweep. Test metrics are computed
    with the weights of the best validation epoch.

    Returns:
        The results dictionary (the schema of ``results.json``).
    """

    out = Path(out_dir)
    facts = machine_facts(device)  # also checks that the device exists
    ctx = from_environment(device)  # several processes under torchrun: rank 0 decides and writes
    device = torch.device(device) if ctx is None else ctx.device
    if ctx is not None:
        facts["processes"] = ctx.world_size
        say = say if ctx.is_main else (lambda line: None)
        progress = progress and ctx.is_main
    store = RunStore(out)
    task.load(cfg.quick, seed=cfg.data_seed)
    assert cfg.reference is not None
    reference_params = _params(build_model(task, cfg.reference, cfg.hidden))
    target = on_main(ctx, lambda: _check_settings(out, task, cfg, reference_params))
    note = "" if target == reference_params else f"; {cfg.reference} has {reference_params:,} now"
    say(f"{task.name}: {len(cfg.models)} models x {len(cfg.seeds)} seeds; parameter budget {target:,} "
        f"({cfg.reference} at hidden={cfg.hidden}{note})")
    widths: dict[str, int] = {}
    for name in cfg.models:
        widths[name] = cfg.hidden if name == cfg.reference else match_budget(task, name, target)[0]
    for name in [] if report_only else cfg.models:
        hidden = widths[name]
        lr = _sweep(task, name, hidden, cfg, store, say, progress, device, facts, ctx)
        for seed in cfg.seeds:
            if on_main(ctx, lambda: store.has(name, seed)):
                say(f"  {name} seed {seed}: done earlier, kept")
                continue
            with _lock(ctx, out, f"{name}__seed{seed}", say):
                if on_main(ctx, lambda: store.has(name, seed)):  # finished by another process while this one waited
                    say(f"  {name} seed {seed}: done by another process, kept")
                    continue
                _run_one(task, name, seed, hidden, lr, cfg, store, say, progress, device, facts, ctx)
    return on_main(ctx, lambda: _report(task, cfg, out, store, widths, target, facts, command, say))


def _report(task: BenchTask, cfg: BenchConfig, out: Path, store: RunStore, widths: dict[str, int], target: int,
            facts: dict[str, Any], command: str, say: Callable[[str], None]) -> dict[str, Any]:
    """Aggregate the finished runs of ``cfg.seeds`` in ``out`` and write the results files."""
    from mmgraph.bench.report import write_report

    records = [r for r in store.records() if r.seed in cfg.seeds]
    for r in records:
        widths.setdefault(r.model, int(r.extra.get("hidden", 0)) or match_budget(task, r.model, target)[0])
    expected = list(dict.fromkeys([*task.default_models, *cfg.models]))
    missing = [f"{m}/{s}" for m in expected for s in cfg.seeds if not store.has(m, s)]
    if missing:
        say(f"not finished yet: {', '.join(missing)}")
    if not records:
        raise ValueError(f"no finished runs in {str(out)!r} for seeds {cfg.seeds}: nothing to report")
    machine, run_machines, run_devices = _run_machines(records, facts)
    config = {**asdict(cfg), "models": sorted({r.model for r in records}), "task": task.config(), "widths": widths,
              "budget": target, "command": command, "torch_threads": machine["torch_threads"], "missing": missing}
    if getattr(task, "plateau", None):
        config["plateau"] = dict(task.plateau)
    if len(run_machines) > 1:
        config["run_machines"] = run_machines
        config["run_devices"] = run_devices
    results = aggregate(records, task.name, config, machine)
    write_results(out, results)
    write_report(out, results, command)
    return results
