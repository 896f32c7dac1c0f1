"""Benchmark results: a resumable store of finished runs, their aggregation, and ``results.json``.

Layout of a benchmark's output directory::

    out_dir/
        runs/<model>__seed<k>.json   one file per finished (model, seed) run (RunRecord.to_dict())
        sweeps/<model>.json          learning-rate sweep of a model: validation metric per lr
        results.json                 aggregate(...) of all runs, written by write_results

Every file is written atomically (a temporary file in the same directory, fsynced, then
renamed over the destination with :func:`os.replace`), so an interrupted benchmark leaves
only whole files behind and can be resumed by skipping the runs :meth:`RunStore.has`.

Schema of ``results.json`` (see :func:`aggregate`)::

    {"task": str, "config": {...}, "machine": {...},
     "models": {NAME: {"params": int,
                       "metrics": {METRIC: {"mean": float, "std": float, "runs": [float, ...]}},
                       "train_s_per_epoch": float, "infer_samples_per_s": float, "peak_mem_mb": float}}}

Floats are written as JSON numbers; a non-finite value (e.g. the loss of a diverged run)
is written as ``NaN``/``Infinity``, which Python's :mod:`json` reads back.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

from mmgraph.utils.io import atomic_write_text
from mmgraph.utils.checks import check_int

__all__ = [
    "RunRecord",
    "RunStore",
    "aggregate",
    "mean_std",
    "write_results",
    "read_results",
    "validate_results",
    "RESULTS_FILE",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Name of the aggregated results file in a benchmark's output directory.
RESULTS_FILE = "results.json"
_RUNS_DIR = "runs"
_SWEEPS_DIR = "sweeps"
# Model names become file names: letters, digits and ``. _ + -``, not starting with a dot.
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]*$")

_MODEL_KEYS = ("params", "metrics", "train_s_per_epoch", "infer_samples_per_s", "peak_mem_mb")
_STAT_KEYS = ("mean", "std", "runs")


# --------------------------------------------------------------------------- atomic writes


def _dump_json(obj: Any, what: str) -> str:
    try:
        return json.dumps(obj, indent=2, allow_nan=True) + "\n"
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: must be JSON-serialisable: {exc}") from None


def _read_json(path: Path, what: str) -> Any:
    """The JSON content of ``path``; a clear :class:`ValueError` naming the file if it is not valid JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"corrupt {what} file {str(path)!r}: not UTF-8 text ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"corrupt {what} file {str(path)!r}: invalid JSON ({exc}); delete it to redo that run"
        ) from None


# --------------------------------------------------------------------------- value checks


def _int(value: Any, what: str, minimum: Optional[int] = None) -> int:
    return check_int(value, what, low=minimum)


def _real(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what}: expected a number, got {value!r}")
    return float(value)


def _check_name(model: Any) -> str:
    if not isinstance(model, str) or not _NAME_RE.match(model):
        raise ValueError(
            f"model: expected a name of letters, digits and '._+-' (not starting with '.'), got {model!r}"
        )
    return model


# --------------------------------------------------------------------------- RunRecord


@dataclass
class RunRecord:
    """The outcome of one finished benchmark run: one model trained with one seed.

    Values are checked and normalised to plain Python types on construction (NumPy
    scalars become ``int``/``float``; the dicts are copied); a wrong type raises
    :class:`ValueError`.

    Attributes:
        model: Registered model name (also used in file names: letters, digits, ``._+-``).
        seed: The seed of the run.
        lr: The learning rate it was trained with.
        params: Number of trainable parameters.
        metrics: Test metrics of the best-validation weights, e.g. ``{"acc2": 0.77, "mae": 0.91}``.
        train_s_per_epoch: Mean wall-clock seconds per training epoch.
        infer_samples_per_s: Inference throughput (samples per second).
        peak_mem_mb: Memory of one training step in MiB (see :func:`mmgraph.bench.runner.training_memory_mb`).
        epochs_run: Epochs actually trained (fewer than configured after early stopping).
        best_epoch: The (1-based) epoch whose weights were evaluated.
        extra: Anything else JSON-serialisable (history, validation metrics, ...).
    """

    model: str
    seed: int
    lr: float
    params: int
    metrics: dict[str, float]
    train_s_per_epoch: float
    infer_samples_per_s: float
    peak_mem_mb: float
    epochs_run: int
    best_epoch: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.model = _check_name(self.model)
        self.seed = _int(self.seed, "seed")
        self.lr = _real(self.lr, "lr")
        self.params = _int(self.params, "params", minimum=0)
        if not isinstance(self.metrics, Mapping):
            raise ValueError(f"metrics: expected a dict of metric name to number, got {type(self.metrics).__name__}")
        metrics: dict[str, float] = {}
        for name, value in self.metrics.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"metrics: names must be non-empty strings, got {name!r}")
            metrics[name] = _real(value, f"metrics[{name!r}]")
        self.metrics = metrics
        self.train_s_per_epoch = _real(self.train_s_per_epoch, "train_s_per_epoch")
        self.infer_samples_per_s = _real(self.infer_samples_per_s, "infer_samples_per_s")
        self.peak_mem_mb = _real(self.peak_mem_mb, "peak_mem_mb")
        self.epochs_run = _int(self.epochs_run, "epochs_run", minimum=0)
        self.best_epoch = _int(self.best_epoch, "best_epoch")
        if not isinstance(self.extra, Mapping):
            raise ValueError(f"extra: expected a dict, got {type(self.extra).__name__}")
        self.extra = dict(self.extra)

    def to_dict(self) -> dict[str, Any]:
        """A dict with one key per field (``metrics`` and ``extra`` shallow-copied).

        It is JSON-serialisable when ``extra`` is (checked by :meth:`RunStore.save`).
        """
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["metrics"] = dict(self.metrics)
        out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunRecord":
        """The record :meth:`to_dict` gave ``data``; ``extra`` may be missing (→ ``{}``).

        Raises:
            ValueError: for a non-dict, missing or unknown keys, or a value of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"run record: expected a JSON object, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in data and n != "extra"]
        unknown = sorted(str(k) for k in data if k not in names)
        if missing or unknown:
            raise ValueError(f"run record: missing keys {missing}, unknown keys {unknown}")
        return cls(**{n: data[n] for n in names if n in data})


# --------------------------------------------------------------------------- RunStore


class RunStore:
    """Finished runs of a benchmark, one JSON file per (model, seed), so that it can be resumed.

    ``RunStore(out_dir)`` only reads; directories are created by the first save. Opening
    the same ``out_dir`` again (e.g. after a crash) sees every run saved before::

        store = RunStore("bench/sort_of_clevr")
        for model in models:
            for seed in seeds:
                if not store.has(model, seed):
                    store.save(train_one(model, seed))
        results = aggregate(store.records(), task, config, machine_facts())

    Args:
        out_dir: The benchmark's output directory.
    """

    def __init__(self, out_dir: PathLike) -> None:
        self.out_dir = Path(out_dir)
        self.runs_dir = self.out_dir / _RUNS_DIR
        self.sweeps_dir = self.out_dir / _SWEEPS_DIR

    def __repr__(self) -> str:
        return f"RunStore({str(self.out_dir)!r})"

    # runs ---------------------------------------------------------------

    def path(self, model: str, seed: int) -> Path:
        """The file of the run (``out_dir/runs/<model>__seed<k>.json``), whether or not it exists."""
        return self.runs_dir / f"{_check_name(model)}__seed{_int(seed, 'seed')}.json"

    def has(self, model: str, seed: int) -> bool:
        """Whether the run of ``model`` with ``seed`` has been saved."""
        return self.path(model, seed).is_file()

    def save(self, record: RunRecord) -> Path:
        """Write ``record`` atomically to :meth:`path`, replacing an earlier save of the same run.

        Returns:
            The file written.

        Raises:
            ValueError: if ``record`` is not a :class:`RunRecord` or ``extra`` is not JSON-serialisable.
        """
        if not isinstance(record, RunRecord):
            raise ValueError(f"record: expected a RunRecord, got {type(record).__name__}")
        path = self.path(record.model, record.seed)
        text = _dump_json(record.to_dict(), f"run {record.model!r} seed {record.seed}")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
        return path

    def _load_file(self, path: Path) -> RunRecord:
        data = _read_json(path, "run")
        try:
            return RunRecord.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"corrupt run file {str(path)!r}: {exc}; delete it to redo that run") from None

    def load(self, model: str, seed: int) -> RunRecord:
        """The saved run of ``model`` with ``seed``.

        Raises:
            FileNotFoundError: if it was not saved.
            ValueError: if its file is corrupt (invalid JSON, missing or mistyped fields) or
                holds another run (the message names the file).
        """
        path = self.path(model, seed)
        if not path.is_file():
            raise FileNotFoundError(f"no saved run of model {model!r} with seed {seed}: {str(path)!r} does not exist")
        record = self._load_file(path)
        if (record.model, record.seed) != (model, seed):
            raise ValueError(
                f"corrupt run file {str(path)!r}: it holds model {record.model!r} seed {record.seed}, "
                f"expected model {model!r} seed {seed}"
            )
        return record

    def records(self) -> list[RunRecord]:
        """Every saved run, sorted by model name, then seed.

        Raises:
            ValueError: if a run file is corrupt, or its content does not match its name.
        """
        if not self.runs_dir.is_dir():
            return []
        out = []
        for path in self.runs_dir.glob("*.json"):
            if path.name.startswith("."):  # a temporary file of an interrupted write
                continue
            record = self._load_file(path)
            if path.name != self.path(record.model, record.seed).name:
                raise ValueError(
                    f"corrupt run file {str(path)!r}: it holds model {record.model!r} seed {record.seed}, "
                    f"which belongs in {self.path(record.model, record.seed).name!r}"
                )
            out.append(record)
        out.sort(key=lambda r: (r.model, r.seed))
        return out

    # learning-rate sweeps -------------------------------------------------

    def sweep_path(self, model: str) -> Path:
        """The file of ``model``'s learning-rate sweep (``out_dir/sweeps/<model>.json``)."""
        return self.sweeps_dir / f"{_check_name(model)}.json"

    def save_sweep(self, model: str, results: Mapping[float, float]) -> Path:
        """Save (atomically, replacing an earlier one) the validation metric reached with each learning rate.

        Args:
            model: The model name.
            results: ``{lr: validation metric}`` (a ``nan`` value for a diverged lr is allowed).

        Returns:
            The file written.
        """
        if not isinstance(results, Mapping) or not results:
            raise ValueError(f"results: expected a non-empty dict of lr to validation metric, got {results!r}")
        pairs = sorted(
            (_real(lr, "sweep lr"), _real(val, f"sweep value of lr {lr!r}")) for lr, val in results.items()
        )
        path = self.sweep_path(model)
        # as [lr, value] pairs: JSON object keys are strings, and floats keep their exact value this way
        text = _dump_json({"model": model, "results": [list(p) for p in pairs]}, f"sweep of {model!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
        return path

    def load_sweep(self, model: str) -> Optional[dict[float, float]]:
        """``{lr: validation metric}`` (sorted by lr) saved by :meth:`save_sweep`, or ``None`` if none was.

        Raises:
            ValueError: if the sweep file is corrupt (the message names it).
        """
        path = self.sweep_path(model)
        if not path.is_file():
            return None
        data = _read_json(path, "sweep")
        try:
            if not isinstance(data, dict) or data.get("model") != model or not isinstance(data.get("results"), list):
                raise ValueError(f"expected {{'model': {model!r}, 'results': [[lr, value], ...]}}")
            out: dict[float, float] = {}
            for pair in data["results"]:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise ValueError(f"expected [lr, value] pairs, got {pair!r}")
                out[_real(pair[0], "lr")] = _real(pair[1], "value")
        except ValueError as exc:
            raise ValueError(f"corrupt sweep file {str(path)!r}: {exc}") from None
        return dict(sorted(out.items()))


# --------------------------------------------------------------------------- aggregation


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and standard deviation of ``values``.

    The standard deviation is the *sample* one (``ddof=1``, Bessel's correction) for two
    or more values, and ``0.0`` for a single value (where ``ddof=1`` is undefined; this is
    ``ddof=0``). With a non-finite value the mean is ``nan`` or ``±inf`` and the standard
    deviation ``nan`` (``0.0`` for a single value).

    Raises:
        ValueError: for no values.
    """
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("mean_std: no values")
    if not all(math.isfinite(x) for x in xs):  # e.g. a diverged run: nan/inf propagate
        mean = sum(xs) / len(xs)
        return mean, (0.0 if len(xs) == 1 else float("nan"))
    mean = math.fsum(xs) / len(xs)
    if len(xs) == 1:
        return mean, 0.0
    var = math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
    return mean, math.sqrt(var)


def aggregate(
    records: Iterable[RunRecord],
    task: str,
    config: Mapping[str, Any],
    machine: Mapping[str, Any],
) -> dict[str, Any]:
    """Aggregate finished runs over seeds into the ``results.json`` structure.

    For each model (in the order of its first record), over its seeds:

    - ``metrics[M]``: ``mean``, ``std`` and ``runs`` (the per-seed values, in increasing seed
      order). ``std`` is the sample standard deviation (``ddof=1``) over two or more seeds and
      ``0.0`` for one seed (``ddof=0``); see :func:`mean_std`.
    - ``params``: mean over seeds rounded to an ``int`` (the same for every seed normally).
    - ``train_s_per_epoch``, ``infer_samples_per_s``, ``peak_mem_mb``: means over seeds.

    Args:
        records: The runs (e.g. :meth:`RunStore.records`).
        task: The benchmark task, e.g. ``"sort_of_clevr"``.
        config: The benchmark configuration (JSON-serialisable; ``config["command"]`` is
            shown by the report when present).
        machine: :func:`mmgraph.bench.machine.machine_facts`.

    Returns:
        ``{"task", "config", "machine", "models"}`` exactly as in the module docstring.

    Raises:
        ValueError: for no records, a (model, seed) given twice, runs of a model with different
            metric names, or arguments of the wrong type.
    """
    if not isinstance(task, str) or not task:
        raise ValueError(f"task: expected a non-empty string, got {task!r}")
    if not isinstance(config, Mapping):
        raise ValueError(f"config: expected a dict, got {type(config).__name__}")
    if not isinstance(machine, Mapping):
        raise ValueError(f"machine: expected a dict, got {type(machine).__name__}")
    by_model: dict[str, dict[int, RunRecord]] = {}
    for record in records:
        if not isinstance(record, RunRecord):
            raise ValueError(f"records: expected RunRecord items, got {type(record).__name__}")
        runs = by_model.setdefault(record.model, {})
        if record.seed in runs:
            raise ValueError(f"records: model {record.model!r} has seed {record.seed} twice")
        runs[record.seed] = record
    if not by_model:
        raise ValueError("records: no runs to aggregate")
    models: dict[str, Any] = {}
    for name, runs in by_model.items():
        ordered = [runs[s] for s in sorted(runs)]
        metric_names = list(ordered[0].metrics)
        for r in ordered[1:]:
            if set(r.metrics) != set(metric_names):
                raise ValueError(
                    f"records: runs of model {name!r} have different metrics: seed {ordered[0].seed} has "
                    f"{sorted(metric_names)}, seed {r.seed} has {sorted(r.metrics)}"
                )
        metrics = {}
        for m in metric_names:
            values = [r.metrics[m] for r in ordered]
            mean, std = mean_std(values)
            metrics[m] = {"mean": mean, "std": std, "runs": values}
        models[name] = {
            "params": int(round(mean_std(r.params for r in ordered)[0])),
            "metrics": metrics,
            "train_s_per_epoch": mean_std(r.train_s_per_epoch for r in ordered)[0],
            "infer_samples_per_s": mean_std(r.infer_samples_per_s for r in ordered)[0],
            "peak_mem_mb": mean_std(r.peak_mem_mb for r in ordered)[0],
        }
    return {"task": task, "config": dict(config), "machine": dict(machine), "models": models}


def validate_results(results: Any) -> None:
    """Check that ``results`` has the ``results.json`` schema (see the module docstring).

    Raises:
        ValueError: naming the first offending entry, e.g. ``results['models']['gat']['metrics']['acc']: ...``.
    """
    if not isinstance(results, Mapping):
        raise ValueError(f"results: expected a dict, got {type(results).__name__}")
    keys = ("task", "config", "machine", "models")
    if set(results) != set(keys):
        raise ValueError(f"results: expected exactly the keys {list(keys)}, got {sorted(map(str, results))}")
    if not isinstance(results["task"], str):
        raise ValueError(f"results['task']: expected a string, got {results['task']!r}")
    for key in ("config", "machine", "models"):
        if not isinstance(results[key], Mapping):
            raise ValueError(f"results[{key!r}]: expected a dict, got {type(results[key]).__name__}")
    for name, entry in results["models"].items():
        where = f"results['models'][{name!r}]"
        if not isinstance(entry, Mapping) or set(entry) != set(_MODEL_KEYS):
            got = sorted(map(str, entry)) if isinstance(entry, Mapping) else type(entry).__name__
            raise ValueError(f"{where}: expected a dict with exactly the keys {list(_MODEL_KEYS)}, got {got}")
        _int(entry["params"], f"{where}['params']", minimum=0)
        for key in _MODEL_KEYS[2:]:
            _real(entry[key], f"{where}[{key!r}]")
        if not isinstance(entry["metrics"], Mapping):
            raise ValueError(f"{where}['metrics']: expected a dict, got {type(entry['metrics']).__name__}")
        for metric, stat in entry["metrics"].items():
            w = f"{where}['metrics'][{metric!r}]"
            if not isinstance(stat, Mapping) or set(stat) != set(_STAT_KEYS):
                raise ValueError(f"{w}: expected a dict with exactly the keys {list(_STAT_KEYS)}")
            _real(stat["mean"], f"{w}['mean']")
            _real(stat["std"], f"{w}['std']")
            if not isinstance(stat["runs"], list) or not stat["runs"]:
                raise ValueError(f"{w}['runs']: expected a non-empty list of numbers")
            for i, v in enumerate(stat["runs"]):
                _real(v, f"{w}['runs'][{i}]")


def write_results(out_dir: PathLike, results: Mapping[str, Any]) -> Path:
    """Write ``results`` (from :func:`aggregate`) atomically to ``out_dir/results.json``.

    ``out_dir`` is created if needed. Returns the file written.

    Raises:
        ValueError: if ``results`` does not have the schema (:func:`validate_results`) or is
            not JSON-serialisable.
    """
    validate_results(results)
    path = Path(out_dir) / RESULTS_FILE
    text = _dump_json(results, "results")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path


def read_results(path: PathLike) -> dict[str, Any]:
    """Read ``results.json`` (``path`` may be the file or its directory) and check its schema.

    Raises:
        FileNotFoundError: if it does not exist.
        ValueError: if it is not valid JSON or not of the schema (naming the file).
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"results file not found: {str(path)!r}")
    data = _read_json(path, "results")
    try:
        validate_results(data)
    except ValueError as exc:
        raise ValueError(f"corrupt results file {str(path)!r}: {exc}") from None
    return data
