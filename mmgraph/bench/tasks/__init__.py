"""Benchmark tasks by name (``mmgraph bench TASK``)."""

from __future__ import annotations

from typing import Any

from mmgraph.bench.tasks.base import Batches, BenchTask, Example
from mmgraph.bench.tasks.task import Task
from mmgraph.bench.tasks.sentiment import SentimentTask
from mmgraph.bench.tasks.captioning import CaptioningTask
from mmgraph.bench.tasks.retrieval import RetrievalTask
from mmgraph.bench.tasks.sort_of_clevr import INPUTS, SortOfCLEVRTask

__all__ = ["Task", "BenchTask", "Batches", "Example", "SortOfCLEVRTask", "SentimentTask", "RetrievalTask", "CaptioningTask", "TASKS",
           "make_task"]

#: Task names accepted by :func:`make_task` and ``mmgraph bench``.
TASKS = ("sort-of-clevr", "sentiment", "retrieval", "captioning")


def make_task(name: str, **options: Any) -> BenchTask:
    """Build the task ``name``; ``sort-of-clevr`` and ``captioning`` take ``input="state"|"pixels"``."""
    if name == "sort-of-clevr":
        return SortOfCLEVRTask(**options)
    if name == "sentiment":
        if options.get("input") not in (None,):
            raise ValueError(f"--input applies to sort-of-clevr and captioning only, got input={options['input']!r} "
                             "for sentiment")
        return SentimentTask(**{k: v for k, v in options.items() if k != "input"})
    if name == "retrieval":
        return RetrievalTask(**{k: v for k, v in options.items() if k != "input" or v is not None})
    if name == "captioning":
        return CaptioningTask(**{k: v for k, v in options.items() if k != "input" or v is not None})
    raise ValueError(f"unknown task {name!r}; tasks: {list(TASKS)}")
