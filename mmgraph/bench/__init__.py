"""Benchmarks: tasks, the runner behind ``mmgraph bench``, results and reports."""

from mmgraph.bench.budget import count_parameters, match_budget, match_widths
from mmgraph.bench.report import markdown_table, print_table, write_report
from mmgraph.bench.results import RunRecord, RunStore, aggregate, read_results, write_results
from mmgraph.bench.run import make_config, run
from mmgraph.bench.runner import BenchConfig, build_model, run_benchmark, training_memory_mb
from mmgraph.bench.tasks import TASKS, BenchTask, SentimentTask, SortOfCLEVRTask, Task, make_task

__all__ = [
    "Task",
    "run",
    "make_config",
    "match_widths",
    "count_parameters",
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
