"""One call from a task to a comparison table: :func:`run`."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Sequence, Union

import torch

from mmgraph.bench.runner import BenchConfig, run_benchmark
from mmgraph.bench.tasks.base import BenchTask

__all__ = ["run", "make_config", "SETTING_NAMES"]

#: Run settings a task has defaults for and :func:`run` (or ``mmgraph bench``) can override.
SETTING_NAMES = ("epochs", "seeds", "lrs", "sweep_epochs", "hidden", "batch_size", "scheduler")


def make_config(task: BenchTask, quick: bool = False, models: Optional[Sequence[str]] = None,
                seeds: Union[int, Iterable[int], None] = None, reference: Optional[str] = None,
                patience: Optional[int] = None, data_seed: int = 0, **settings: Any) -> BenchConfig:
    """The :class:`~mmgraph.bench.BenchConfig` of ``task``: its defaults (full or ``quick``) updated by ``settings``.

    ``seeds`` is a number of seeds (``3`` → seeds 0, 1, 2) or the seeds themselves. The parameter
    budget is set by ``reference`` (default: the task's first default model), so runs of any
    subset of models share one budget.
    """
    unknown = sorted(set(settings) - set(SETTING_NAMES))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; settings: {list(SETTING_NAMES)}")
    defaults = {**task.settings(quick), **{k: v for k, v in settings.items() if v is not None}}
    if seeds is None:
        seeds = defaults["seeds"]
    if isinstance(seeds, bool) or not (isinstance(seeds, int) or isinstance(seeds, Iterable)):
        raise ValueError(f"seeds: expected a number of seeds or a list of seeds, got {seeds!r}")
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    return BenchConfig(
        models=list(models or task.default_models),
        reference=reference or (task.default_models[0] if task.default_models else None),
        seeds=seed_list,
        epochs=defaults["epochs"],
        batch_size=defaults["batch_size"],
        hidden=defaults["hidden"],
        lrs=tuple(defaults["lrs"]),
        sweep_epochs=defaults["sweep_epochs"],
        scheduler=defaults["scheduler"],
        patience=patience,
        data_seed=data_seed,
        quick=quick,
    )


def run(task: BenchTask, models: Optional[Sequence[str]] = None, seeds: Union[int, Iterable[int], None] = None,
        out: Optional[str] = None, quick: bool = False, progress: bool = True, device: Union[str, torch.device] = "cpu",
        say: Callable[[str], None] = print, **settings: Any) -> dict[str, Any]:
    r"""Compare ``models`` on ``task`` fairly and write ``results.json``, ``results.md`` and ``results.png`` to ``out``.

    The Python form of ``mmgraph bench``: every model gets the same data and inputs, a width
    matched to the reference model's parameter count, its own learning rate from a validation
    sweep, and every seed; test metrics come from the best validation epoch. Finished (model, seed)
    runs are kept in ``out`` and skipped when called again (an interrupted run resumes).

    Args:
        task: A :class:`~mmgraph.bench.Task` (your data) or a built-in task.
        models: Registered model names (default: the task's).
        seeds: A number of seeds or the seeds (default: the task's).
        out: Output folder (default ``runs/bench/<task name>``, with ``-quick`` for ``quick``).
        quick: The task's quick settings (a smoke run, not a result).
        progress: Show progress (bars in a terminal, one line per epoch otherwise).
        device: Where to train (``"cpu"``, ``"cuda"``).
        say: Where the one-line messages go.
        **settings: Overrides of ``epochs``, ``lrs``, ``sweep_epochs``, ``hidden``, ``batch_size``,
            ``scheduler``.

    Returns:
        The results (the schema of ``results.json``); :func:`~mmgraph.bench.markdown_table` shows them.
    """
    cfg = make_config(task, quick=quick, models=models, seeds=seeds, **settings)
    out = out or f"runs/bench/{task.name}{'-quick' if quick else ''}"
    shown = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    command = f"mmgraph.bench.run({task.name!r}, models={cfg.models}, seeds={cfg.seeds}, quick={quick}" \
              + (f", {shown}" if shown else "") + ")"
    return run_benchmark(task, cfg, out, command=command, progress=progress, say=say, device=device)
