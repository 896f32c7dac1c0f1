"""Reports of benchmark results: a Markdown table, ``results.md`` with a plot, and a terminal table.

All functions take the ``results.json`` structure of :func:`mmgraph.bench.results.aggregate`.
Metric values are shown raw (``0.953 ± 0.004``: mean ± standard deviation over seeds, 3
decimals); the best mean per metric is highlighted, where lower is better for the metrics
of :func:`lower_is_better` (``mae``, losses, ...) and higher for all others.

Plotting needs ``matplotlib`` (imported only by :func:`plot_results` / :func:`write_report`);
it draws with the Agg backend on its own figure, without touching ``pyplot``'s global state.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional, Sequence, TextIO

from mmgraph.bench.results import PathLike, validate_results
from mmgraph.train.metrics import metric_mode
from mmgraph.utils.io import atomic_write, atomic_write_text

__all__ = [
    "per_seed_table",
    "left_plateau",
    "lower_is_better",
    "markdown_table",
    "text_table",
    "print_table",
    "plot_results",
    "write_report",
    "ReportPaths",
    "REPORT_FILE",
    "PLOT_FILE",
]

REPORT_FILE = "results.md"
PLOT_FILE = "results.png"

# Known metrics come first, in this order; others follow in order of appearance, ablations last.
_KNOWN_ORDER = ("acc_relational", "acc_nonrelational", "acc", "acc2", "f1", "acc7", "mae", "corr")
_ABLATION = "_without_"
_MISSING_MD = "—"
_MISSING_TEXT = "-"


class ReportPaths(NamedTuple):
    """The files written by :func:`write_report`."""

    markdown: Path
    plot: Path


def lower_is_better(metric: str) -> bool:
    """Whether a lower value of ``metric`` is better (:func:`~mmgraph.train.metrics.metric_mode`)."""
    return metric_mode(metric) == "min"


# --------------------------------------------------------------------------- helpers


def _metric_names(results: Mapping[str, Any], metrics: Optional[Sequence[str]]) -> list[str]:
    """The metric columns: ``metrics`` (checked), or every metric of any model in a canonical order."""
    present: list[str] = []
    for entry in results["models"].values():
        for m in entry["metrics"]:
            if m not in present:
                present.append(m)
    if metrics is not None:
        if isinstance(metrics, str):
            raise ValueError(f"metrics: expected a list of metric names, got the string {metrics!r}")
        metrics = list(metrics)
        unknown = [m for m in metrics if m not in present]
        if unknown:
            raise ValueError(f"metrics: {unknown} not in the results (they have {present})")
        return metrics
    known = [m for m in _KNOWN_ORDER if m in present]
    others = [m for m in present if m not in known and _ABLATION not in m]
    ablations = [m for m in present if m not in known and _ABLATION in m]
    return known + others + ablations


def _best_models(results: Mapping[str, Any], metric: str) -> set[str]:
    """Models whose (finite) mean of ``metric`` is the best; all of them on a tie."""
    means = {
        name: float(entry["metrics"][metric]["mean"])
        for name, entry in results["models"].items()
        if metric in entry["metrics"] and math.isfinite(float(entry["metrics"][metric]["mean"]))
    }
    if not means:
        return set()
    best = min(means.values()) if lower_is_better(metric) else max(means.values())
    return {name for name, v in means.items() if v == best}


def _fmt_stat(stat: Mapping[str, Any]) -> str:
    return f"{float(stat['mean']):.3f} ± {float(stat['std']):.3f}"


def _fmt_quantity(x: Any) -> str:
    """Times, throughputs and memory: thousands separators for large values, 3 significant digits for small."""
    x = float(x)
    if not math.isfinite(x):
        return "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def _seeds_phrase(results: Mapping[str, Any]) -> str:
    counts = sorted({len(s["runs"]) for e in results["models"].values() for s in e["metrics"].values()})
    if not counts:
        return "over seeds"
    if len(counts) == 1:
        return f"over {counts[0]} seed{'s' if counts[0] != 1 else ''}"
    return f"over {counts[0]}–{counts[-1]} seeds"


def _inline_code(text: str) -> str:
    """``text`` as Markdown inline code, with a fence longer than any run of backticks in it."""
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if longest or text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _code_block(text: str, lang: str = "bash") -> str:
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _command_of(results: Mapping[str, Any]) -> Optional[str]:
    command = results["config"].get("command")
    if isinstance(command, (list, tuple)):
        command = " ".join(str(c) for c in command)
    return command if isinstance(command, str) and command else None


def _table_cells(results: Mapping[str, Any], names: list[str], missing: str) -> tuple[list[str], list[list[str]], list[list[bool]]]:
    """Header, rows of cell texts, and per-cell "is best" flags (for the metric columns)."""
    header = ["Model", "Params", *names, "Train s/epoch", "Samples/s", "Peak MB"]
    best = {m: _best_models(results, m) for m in names}
    rows, flags = [], []
    for model, entry in results["models"].items():
        cells = [str(model), f"{int(entry['params']):,}"]
        row_flags = [False, False]
        for m in names:
            stat = entry["metrics"].get(m)
            cells.append(_fmt_stat(stat) if stat is not None else missing)
            row_flags.append(stat is not None and model in best[m])
        cells += [
            _fmt_quantity(entry["train_s_per_epoch"]),
            _fmt_quantity(entry["infer_samples_per_s"]),
            _fmt_quantity(entry["peak_mem_mb"]),
        ]
        row_flags += [False, False, False]
        rows.append(cells)
        flags.append(row_flags)
    return header, rows, flags


# --------------------------------------------------------------------------- tables


def markdown_table(
    results: Mapping[str, Any], metrics: Optional[Sequence[str]] = None, *, header: bool = True
) -> str:
    """A Markdown table of ``results``: one row per model.

    Columns: model, parameter count, each metric as ``mean ± std`` (raw values, 3 decimals),
    training seconds per epoch, inference samples per second and peak memory (MiB). The best
    mean of each metric is **bold** (lower is better where :func:`lower_is_better`, marked ↓
    in the column header); a model without a metric shows ``—``.

    Args:
        results: The ``results.json`` structure.
        metrics: Metric columns in this order; ``None``: every metric of any model (known
            ones first, ``*_without_*`` ablations last).
        header: Start with a line giving the task and, when ``results["config"]["command"]``
            is present, the command.

    Raises:
        ValueError: if ``results`` does not have the schema, or ``metrics`` names a metric no model has.
    """
    validate_results(results)
    names = _metric_names(results, metrics)
    head, rows, flags = _table_cells(results, names, _MISSING_MD)
    head = [h + " ↓" if h in names and lower_is_better(h) else h for h in head]
    lines = []
    if header:
        line = f"**Task:** {_inline_code(results['task'])}"
        command = _command_of(results)
        if command is not None:
            line += f" · **Command:** {_inline_code(command)}"
        lines += [line, ""]
    lines.append("| " + " | ".join(_md_cell(h) for h in head) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(head) - 1)) + "|")
    for cells, row_flags in zip(rows, flags):
        shown = [f"**{c}**" if f else c for c, f in zip(cells, row_flags)]
        lines.append("| " + " | ".join(_md_cell(c) for c in shown) + " |")
    return "\n".join(lines) + "\n"


def text_table(results: Mapping[str, Any], metrics: Optional[Sequence[str]] = None) -> str:
    """The table of :func:`markdown_table` as aligned plain text for a terminal.

    The best mean per metric is marked with a trailing ``*`` instead of bold; a footer says
    which metrics are better when lower.
    """
    validate_results(results)
    names = _metric_names(results, metrics)
    head, rows, flags = _table_cells(results, names, _MISSING_TEXT)
    metric_cols = range(2, 2 + len(names))
    # metric cells get a trailing "*" when best, else a space, so that the "±" signs line up
    marked = [
        [c + ("*" if f else " ") if i in metric_cols else c for i, (c, f) in enumerate(zip(cells, row_flags))]
        for cells, row_flags in zip(rows, flags)
    ]
    widths = [max(len(h), *(len(r[i]) for r in marked)) if marked else len(h) for i, h in enumerate(head)]

    def fmt(cells: list[str]) -> str:
        out = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join(out).rstrip()

    lines = [f"task: {results['task']}"]
    command = _command_of(results)
    if command is not None:
        lines.append(f"command: {command}")
    lines += ["", fmt(head), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in marked]
    lower = [m for m in names if lower_is_better(m)]
    note = f"mean ± std {_seeds_phrase(results)}; * best mean per metric"
    if lower:
        note += f" (lower is better for {', '.join(lower)})"
    lines += ["", note]
    return "\n".join(lines) + "\n"


def print_table(
    results: Mapping[str, Any], metrics: Optional[Sequence[str]] = None, file: Optional[TextIO] = None
) -> None:
    """Print :func:`text_table` of ``results`` to ``file`` (default: standard output)."""
    print(text_table(results, metrics), end="", file=sys.stdout if file is None else file)


# --------------------------------------------------------------------------- plot


def _ablation_drops(results: Mapping[str, Any]) -> tuple[list[str], dict[str, dict[str, tuple[float, float]]]]:
    """Modalities with an ``acc2_without_<modality>`` metric, and per model ``{modality: (mean, std)}``
    of the Acc-2 drop ``acc2 - acc2_without_<modality>``, paired by seed when the runs line up."""
    from mmgraph.bench.results import mean_std

    prefix = "acc2" + _ABLATION
    modalities: list[str] = []
    drops: dict[str, dict[str, tuple[float, float]]] = {}
    for model, entry in results["models"].items():
        metrics = entry["metrics"]
        if "acc2" not in metrics:
            continue
        for name, stat in metrics.items():
            if not name.startswith(prefix) or len(name) == len(prefix):
                continue
            modality = name[len(prefix):]
            if modality not in modalities:
                modalities.append(modality)
            full, ablated = metrics["acc2"]["runs"], stat["runs"]
            if len(full) == len(ablated):
                mean, std = mean_std(float(a) - float(b) for a, b in zip(full, ablated))
            else:
                mean, std = float(metrics["acc2"]["mean"]) - float(stat["mean"]), float("nan")
            drops.setdefault(model, {})[modality] = (mean, std)
    return modalities, drops


def _grouped_bars(
    ax: Any, groups: list[str], series: dict[str, list[tuple[float, float]]], colors: Mapping[str, str]
) -> None:
    """Bars of ``series`` (label → (mean, std) per group) side by side within each group, with std error bars."""
    import numpy as np

    n = max(len(series), 1)
    width = 0.8 / n
    x = np.arange(len(groups), dtype=float)
    for i, (label, values) in enumerate(series.items()):
        means = [v[0] for v in values]
        stds = [v[1] if math.isfinite(v[1]) else 0.0 for v in values]
        ax.bar(x + (i - (n - 1) / 2) * width, means, width, yerr=stds, capsize=3, label=label,
               color=colors.get(label), error_kw={"elinewidth": 1})
    ax.set_xticks(x, groups)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def plot_results(results: Mapping[str, Any], path: PathLike, metrics: Optional[Sequence[str]] = None) -> Path:
    """Save a PNG (atomically) with a grouped bar chart of the main metrics per model.

    The first panel has one group of bars per metric (``metrics``, or every metric except the
    ``*_without_*`` ablations), one bar per model, the mean with the standard deviation over
    seeds as error bar. When ``acc2_without_<modality>`` metrics exist (sentiment), a second
    panel shows the Acc-2 drop per removed modality and model (mean ± std of the per-seed drop).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ImportError: if matplotlib is not installed.
        ValueError: if ``results`` does not have the schema or has no metric to plot.
    """
    validate_results(results)
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"plotting benchmark results needs matplotlib (pip install matplotlib): {exc}") from None
    main = [m for m in _metric_names(results, metrics) if _ABLATION not in m]
    if not main:
        raise ValueError("results: no metric to plot")
    modalities, drops = _ablation_drops(results)
    models = list(results["models"])
    colors = {model: f"C{i % 10}" for i, model in enumerate(models)}  # the same in both panels
    nan = (float("nan"), float("nan"))

    panels = 1 + bool(modalities)
    bars_per_group = 0.25 * len(models) + 0.35
    w_main = min(max(5.0, 1.5 + len(main) * bars_per_group), 20.0)
    w_abl = min(max(4.0, 1.5 + len(modalities) * bars_per_group), 12.0) if modalities else 0.0
    fig = Figure(figsize=(w_main + w_abl, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels, squeeze=False, width_ratios=[w_main] + ([w_abl] if modalities else []))[0]

    series = {
        model: [
            (float(s["mean"]), float(s["std"])) if (s := results["models"][model]["metrics"].get(m)) else nan
            for m in main
        ]
        for model in models
    }
    ax = axes[0]
    _grouped_bars(ax, [m + (" ↓" if lower_is_better(m) else "") for m in main], series, colors)
    ax.set_title(f"{results['task']}: test metrics (mean ± std {_seeds_phrase(results)})", fontsize="medium")
    ax.set_ylabel("value")
    ax.legend(fontsize="small", ncols=min(len(models), 4), loc="upper center", bbox_to_anchor=(0.5, -0.1),
              frameon=False)
    if modalities:
        ax = axes[1]
        abl = {model: [drops[model].get(mod, nan) for mod in modalities] for model in models if model in drops}
        _grouped_bars(ax, modalities, abl, colors)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_title("Acc-2 drop when a modality is removed", fontsize="medium")
        ax.set_xlabel("removed modality")
        ax.set_ylabel("acc2 − acc2_without_<modality>")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    return path


# --------------------------------------------------------------------------- results.md


def _fmt_fact(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (dict, list, tuple)):
        return _inline_code(json.dumps(value, sort_keys=True, default=str))
    return str(value)


def left_plateau(entry: Mapping[str, Any], plateau: Mapping[str, float]) -> Optional[tuple[int, int]]:
    """``(runs that left the plateau, runs)`` of one model's entry, or ``None`` without the plateau's metrics.

    A run left it when each metric of ``plateau`` is beyond its threshold (below it for a
    lower-is-better metric, above it otherwise).
    """
    runs = [entry["metrics"].get(m, {}).get("runs") for m in plateau]
    if not all(runs) or len({len(r) for r in runs}) != 1:
        return None
    beyond = [[(v < t) if lower_is_better(m) else (v > t) for v in r] for (m, t), r in zip(plateau.items(), runs)]
    return sum(all(seed) for seed in zip(*beyond)), len(runs[0])


def _plateau_phrase(plateau: Mapping[str, float]) -> str:
    return " and ".join(f"{m} {'<' if lower_is_better(m) else '>'} {t:g}" for m, t in plateau.items())


def per_seed_table(results: Mapping[str, Any], metrics: Optional[Sequence[str]] = None) -> list[str]:
    """Markdown lines of a table of every model's metrics seed by seed (``a / b / c``, in seed order).

    With ``config["plateau"]`` (see :class:`~mmgraph.bench.Task`), a last column counts the seeds
    that left the plateau.
    """
    names = _metric_names(results, metrics)
    seeds = results["config"].get("seeds")
    plateau = results["config"].get("plateau")
    head = "seeds " + " / ".join(str(s) for s in seeds) if isinstance(seeds, list) else "per seed"
    lines = ["## Per seed", "", f"Test metrics of each run ({head}), so that a seed that did not learn shows."]
    if plateau:
        lines[-1] += (f" A run left the plateau when {_plateau_phrase(plateau)}; the last column counts "
                      "the seeds that did.")
    extra = ["left the plateau"] if plateau else []
    lines += ["", "| Model | " + " | ".join(_md_cell(n) for n in names + extra) + " |",
              "|:---|" + "---:|" * (len(names) + len(extra))]
    for model, entry in sorted(results["models"].items()):
        cells = []
        for n in names:
            runs = entry["metrics"].get(n, {}).get("runs")
            cells.append(" / ".join(f"{float(v):.3f}" for v in runs) if runs else "n/a")
        if plateau:
            count = left_plateau(entry, plateau)
            cells.append(f"{count[0]} of {count[1]}" if count else "n/a")
        lines.append(f"| {_md_cell(model)} | " + " | ".join(cells) + " |")
    return lines + [""]


def write_report(
    out_dir: PathLike, results: Mapping[str, Any], command: str, metrics: Optional[Sequence[str]] = None
) -> ReportPaths:
    """Write ``out_dir/results.md`` and its plot ``out_dir/results.png`` (both atomically).

    ``results.md`` has a title, the exact ``command`` that produced the results in a code
    block, the machine facts and the configuration as short lists, the table of
    :func:`markdown_table` and the plot of :func:`plot_results`.

    Args:
        out_dir: Directory to write to (created if needed).
        results: The ``results.json`` structure.
        command: The command line that reproduces the results, e.g. ``"mmgraph bench sort_of_clevr"``.
        metrics: Metric columns/bars (default: all; see :func:`markdown_table`).

    Returns:
        ``ReportPaths(markdown, plot)``.

    Raises:
        ValueError: if ``results`` does not have the schema or ``command`` is not a string (an empty
            one is reported as not recorded).
        ImportError: if matplotlib is not installed.
    """
    validate_results(results)
    if not isinstance(command, str):
        raise ValueError(f"command: expected a string, got {command!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot = plot_results(results, out_dir / PLOT_FILE, metrics)

    lower = [m for m in _metric_names(results, metrics) if lower_is_better(m)]
    lines = [
        f"# mmgraph benchmark: {results['task']}",
        "",
        "Produced by:" if command.strip() else "Produced by: (command not recorded)",
        "",
        *([_code_block(command), ""] if command.strip() else []),
        "## Machine",
        "",
    ]
    lines += [f"- **{_md_cell(k)}**: {_md_cell(_fmt_fact(v))}" for k, v in results["machine"].items()] or ["- n/a"]
    config = {k: v for k, v in results["config"].items() if k != "command"}
    if config:
        lines += ["", "## Configuration", ""]
        lines += [f"- **{_md_cell(k)}**: {_md_cell(_fmt_fact(v))}" for k, v in config.items()]
    note = (
        f"Test metrics, mean ± standard deviation {_seeds_phrase(results)} (sample standard deviation, "
        "ddof=1; 0 for a single seed). The best mean per metric is in bold"
    )
    note += f"; lower is better for {', '.join(lower)} (↓)." if lower else "."
    note += (
        " Params: trainable parameters; Train s/epoch: mean wall-clock seconds per training epoch; "
        "Samples/s: inference throughput; Peak MB: peak memory of a run in MiB."
    )
    if results["config"].get("run_devices"):
        note += (
            " The runs were made on more than one machine (see run_devices and run_machines above): "
            "time, throughput and memory compare only between models run on the same device."
        )
    lines += ["", "## Results", "", note, "", markdown_table(results, metrics, header=False).rstrip("\n"), ""]
    lines += per_seed_table(results, metrics)
    missing = results["config"].get("missing") or []
    if missing:
        lines += [f"**Partial results**: {len(missing)} (model, seed) runs are not finished yet "
                  f"({', '.join(missing)}); rerun the command above to resume them.", ""]
    lines += [f"![{results['task']} results]({plot.name})", ""]
    md = out_dir / REPORT_FILE
    atomic_write_text(md, "\n".join(lines))
    return ReportPaths(md, plot)
