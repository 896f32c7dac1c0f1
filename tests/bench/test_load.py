"""Loading a user's benchmark task from ``FILE.py:NAME`` or ``module:NAME``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mmgraph.bench.load import is_task_spec, load_task
from mmgraph.bench.tasks import BenchTask, SentimentTask

TASK_FILE = """\
from mmgraph.bench.tasks import SentimentTask


class TinySentiment(SentimentTask):
    def __init__(self):
        super().__init__(sizes=(8, 4, 4))
        self.name = "tiny-sentiment"


TASK = TinySentiment()


def make():
    task = SentimentTask(sizes=(8, 4, 4))
    task.name = "tiny-sentiment"
    return task


def needs_args(n):
    return TinySentiment()


def not_a_task():
    return 42


NUMBER = 3
"""


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_task.py"
    path.write_text(TASK_FILE)
    return path


@pytest.mark.parametrize("name", ["TASK", "make", "TinySentiment"])
def test_loads_an_instance_a_factory_or_a_class(task_file: Path, name: str) -> None:
    task = load_task(f"{task_file}:{name}")
    assert isinstance(task, SentimentTask) and task.name == "tiny-sentiment"


def test_loads_from_a_module(task_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(task_file.parent))
    monkeypatch.delitem(sys.modules, "my_task", raising=False)
    task = load_task("my_task:TASK")
    assert isinstance(task, BenchTask) and task.name == "tiny-sentiment"
    sys.modules.pop("my_task", None)


def test_a_loaded_task_runs(task_file: Path) -> None:
    task = load_task(f"{task_file}:TASK")
    task.load(quick=True, seed=0)
    assert task.num_samples("train") > 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{dir}/missing.py:TASK", "file not found"),
        ("{file}:NOPE", "has no attribute 'NOPE'; it defines ['TASK', 'TinySentiment']"),
        ("{file}:NUMBER", "is a int, expected a BenchTask or a zero-argument callable"),
        ("{file}:not_a_task", "returned int, expected a BenchTask"),
        ("{file}:needs_args", "could not be called without arguments"),
        ("{file}:", "TASK a Python name"),
        ("no_such_module_xyz:TASK", "no module named 'no_such_module_xyz'"),
        ("sentiment", "expected 'path/to/file.py:TASK' or 'package.module:TASK'"),
    ],
)
def test_errors_name_what_is_wrong(task_file: Path, spec: str, message: str) -> None:
    spec = spec.format(dir=task_file.parent, file=task_file)
    with pytest.raises(ValueError, match="^task: ") as exc:
        load_task(spec)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_file_that_fails_to_import(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('no data here\\nsecond line')\n")
    with pytest.raises(ValueError, match=r"importing.*.*broken.py'.*failed:.*RuntimeError:.*here$"):
        load_task(f"{path}:TASK")


def test_is_task_spec() -> None:
    assert is_task_spec("a.py:T") and is_task_spec("pkg.mod:T") and not is_task_spec("sentiment")
