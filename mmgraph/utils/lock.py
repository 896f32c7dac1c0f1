"""An exclusive lock per run, so that processes sharing an output folder never run the same thing at once."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

__all__ = ["run_lock", "LOCK_DIR"]

#: Folder of lock files inside an output folder (with a ``.gitignore`` so that they are never committed).
LOCK_DIR = ".locks"


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _wait_lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


@contextmanager
def run_lock(out: Path, name: str, say: Optional[Callable[[str], None]] = None) -> Iterator[None]:
    """Hold the lock of run ``name`` in the output folder ``out`` for the ``with`` block.

    The lock is an advisory lock of the operating system (``flock``) on ``out/.locks/NAME.lock``:
    it is released when the block ends or the process dies, even by ``kill -9``. A second
    process asking for a held lock waits for it (saying so once through ``say``), so two
    processes started on the same ``--out`` share the runs instead of crashing into each
    other; after the wait the caller checks whether the other process finished the run.
    """
    folder = Path(out) / LOCK_DIR
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not _try_lock(fd):
            if say is not None:
                say(f"  {name}: another process is running it in {str(out)!r}; waiting for it to finish")
            _wait_lock(fd)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
