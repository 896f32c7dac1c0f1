"""The per-run lock that keeps processes sharing an output folder apart."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from mmgraph.utils.lock import LOCK_DIR, run_lock


def test_a_held_lock_makes_the_second_holder_wait(tmp_path: Path) -> None:
    events: list[str] = []
    said: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with run_lock(tmp_path, "concat__seed0"):
            events.append("first in")
            inside.set()
            time.sleep(0.3)
            events.append("first out")

    t = threading.Thread(target=first)
    t.start()
    inside.wait(5)
    with run_lock(tmp_path, "concat__seed0", said.append):
        events.append("second in")
    t.join()
    assert events == ["first in", "first out", "second in"]
    assert len(said) == 1 and "another process is running it" in said[0] and "waiting" in said[0]


def test_different_runs_do_not_wait_and_locks_are_never_committed(tmp_path: Path) -> None:
    said: list[str] = []
    with run_lock(tmp_path, "a__seed0", said.append), run_lock(tmp_path, "a__seed1", said.append):
        pass
    assert said == []
    assert (tmp_path / LOCK_DIR / ".gitignore").read_text() == "*\n"
