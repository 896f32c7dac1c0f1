from __future__ import annotations

import os
import stat

import pytest

from mmgraph.utils.io import atomic_write, atomic_write_text


def test_written_files_get_the_usual_permissions(tmp_path) -> None:
    path = tmp_path / "a.txt"
    atomic_write_text(path, "hello")
    mask = os.umask(0)
    os.umask(mask)
    assert path.read_text() == "hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")

    def boom(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, boom)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_permissions_survive_a_writer_that_recreates_the_file(tmp_path) -> None:
    path = tmp_path / "b.bin"

    def recreate(tmp: str) -> None:  # like safetensors: unlink, then create with its own mode
        os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"data")
        os.close(fd)

    atomic_write(path, recreate)
    mask = os.umask(0)
    os.umask(mask)
    assert path.read_bytes() == b"data" and stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
