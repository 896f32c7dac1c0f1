"""Benchmarks: tasks, the runner behind ``mmgraph bench``, results and reports."""

from mmgraph.bench.report import markdown_table, print_table, write_report
from mmgraph.bench.results import RunRecord, RunStore, aggregate, read_results, write_results
from mmgraph.bench.runner import BenchConfig, build_model, match_budget, run_benchmark, training_memory_mb
from mmgraph.bench.tasks import TASKS, BenchTask, SentimentTask, SortOfCLEVRTask, make_task

__all__ = [
    "BenchConfig",
    "run_benchmark",
    "build_model",
    "match_budget",
    "training_memory_mb",
    "BenchTask",
    "SortOfCLEVRTask",
    "SentimentTask",
    "TASKS",
    "make_task",
    "RunRecord",
    "RunStore",
    "aggregate",
    "write_results",
    "read_results",
    "markdown_table",
    "print_table",
    "write_report",
]
