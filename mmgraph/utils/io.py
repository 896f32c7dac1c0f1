"""Atomic file writes: a file is either the old version or the complete new one, never partial."""

from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "atomic_write_text", "remove_stale_temps"]


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platform dependent
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - platform dependent
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    if os.name != "posix":  # pragma: no cover - no cheap liveness test: keep the file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user
        return True
    return True


def remove_stale_temps(folder: Path, prefix: str) -> None:
    """Remove the temporary files ``folder/.{prefix}*.<pid>.<random>.tmp`` whose writer process no longer exists.

    :func:`atomic_write` names its temporary file ``.<name>.<pid>.<random>.tmp``; one whose
    process is gone was left by a writer killed mid-write. Those of live processes stay.
    """
    for stale in Path(folder).glob(f".{glob.escape(prefix)}*.tmp"):
        parts = stale.name.split(".")
        pid = parts[-3] if len(parts) >= 4 else ""
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary file next to ``path``, fsync it, then rename it over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was. The temporary
    file's name holds the writer's process id; temporary files of ``path`` whose writer no
    longer runs (killed by ``kill -9`` mid-write) are removed first, so none survives the next
    write, while those of a live writer in another process are left alone.
    """
    path = Path(path)
    remove_stale_temps(path.parent, path.name + ".")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp (or a writer that recreates the file) leaves 0600
        with open(tmp, "rb+") as f:
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    atomic_write(path, write)
