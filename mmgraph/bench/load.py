"""Load a user's benchmark task from ``path/to/file.py:NAME`` or ``package.module:NAME`` (``mmgraph bench``)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mmgraph.bench.tasks.base import BenchTask

__all__ = ["load_task", "is_task_spec"]


def is_task_spec(spec: str) -> bool:
    """Whether ``spec`` names a user task (``FILE.py:NAME`` or ``module:NAME``) rather than a built-in one."""
    return ":" in spec


def load_task(spec: str) -> BenchTask:
    """The task named by ``spec``: ``path/to/my_task.py:TASK`` or ``package.module:TASK``.

    ``TASK`` is an attribute of that file or module: a :class:`~mmgraph.bench.tasks.base.BenchTask`
    instance, or a callable taking no arguments that returns one (a ``BenchTask`` subclass, a
    factory function).

    Args:
        spec: ``"<file or module>:<name>"``; a file is recognised by its ``.py`` suffix or a ``/``.

    Raises:
        ValueError: with a one-line message for a malformed spec, a file or module that does not
            exist or fails to import, a missing ``TASK`` (listing the tasks the file does define),
            or an object that is not (and does not return) a ``BenchTask``.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"task: expected 'path/to/file.py:TASK' or 'package.module:TASK', got {spec!r}")
    where, _, name = spec.rpartition(":")
    if not where or not name.isidentifier():
        raise ValueError(f"task: expected 'path/to/file.py:TASK' or 'package.module:TASK' (TASK a Python name), "
                         f"got {spec!r}")
    module = _load_file(where) if where.endswith(".py") or "/" in where or "\\" in where else _load_module(where)
    if not hasattr(module, name):
        defined = _task_names(module)
        listed = f"it defines {defined}" if defined else "it defines no BenchTask"
        raise ValueError(f"task: {where!r} has no attribute {name!r}; {listed}")
    return _as_task(getattr(module, name), spec)


def _load_file(where: str) -> ModuleType:
    path = Path(where).expanduser()
    if not path.is_file():
        raise ValueError(f"task: file not found: {str(path)!r}")
    module_name = f"_mmgraph_user_task_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"task: cannot import {str(path)!r} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ValueError(f"task: importing {str(path)!r} failed: {_one_line(exc)}") from exc
    return module


def _load_module(where: str) -> ModuleType:
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as exc:
        if exc.name and where.startswith(exc.name):
            raise ValueError(f"task: no module named {where!r} (for a file give its path ending in .py)") from None
        raise ValueError(f"task: importing {where!r} failed: {_one_line(exc)}") from exc
    except Exception as exc:
        raise ValueError(f"task: importing {where!r} failed: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _task_names(module: ModuleType) -> list[str]:
    """Names in ``module`` bound to ``BenchTask`` instances or subclasses defined there."""
    names = []
    for key, value in vars(module).items():
        if key.startswith("_"):
            continue
        if isinstance(value, BenchTask) or (isinstance(value, type) and issubclass(value, BenchTask)
                                            and value.__module__ == module.__name__):
            names.append(key)
    return sorted(names)


def _as_task(obj: Any, spec: str) -> BenchTask:
    if isinstance(obj, BenchTask):
        return obj
    if callable(obj):
        try:
            task = obj()
        except TypeError as exc:
            raise ValueError(f"task: {spec!r} is a callable that could not be called without arguments ({exc}); "
                             "expected a BenchTask or a zero-argument callable returning one") from None
        if isinstance(task, BenchTask):
            return task
        raise ValueError(f"task: {spec!r}() returned {type(task).__name__}, expected a BenchTask")
    raise ValueError(f"task: {spec!r} is a {type(obj).__name__}, expected a BenchTask or a zero-argument callable "
                     "returning one")
