"""Benchmark tasks by name (``mmgraph bench TASK``)."""

from __future__ import annotations

from typing import Any

from mmgraph.bench.tasks.base import Batches, BenchTask, Example
from mmgraph.bench.tasks.sentiment import SentimentTask
from mmgraph.bench.tasks.sort_of_clevr import INPUTS, SortOfCLEVRTask

__all__ = ["BenchTask", "Batches", "Example", "SortOfCLEVRTask", "SentimentTask", "TASKS", "make_task"]

#: Task names accepted by :func:`make_task` and ``mmgraph bench``.
TASKS = ("sort-of-clevr", "sentiment")


def make_task(name: str, **options: Any) -> BenchTask:
    """Build the task ``name``; ``sort-of-clevr`` takes ``input="state"|"pixels"``."""
    if name == "sort-of-clevr":
        return SortOfCLEVRTask(**options)
    if name == "sentiment":
        if options.get("input") not in (None,):
            raise ValueError(f"--input applies to sort-of-clevr only, got input={options['input']!r} for sentiment")
        return SentimentTask(**{k: v for k, v in options.items() if k != "input"})
    raise ValueError(f"unknown task {name!r}; tasks: {list(TASKS)}")
