"""Progress output that suits its stream: tqdm bars in a terminal, plain lines in logs and CI."""

from __future__ import annotations

import sys
from typing import Optional, TextIO

__all__ = ["interactive", "progress_line"]


def interactive(stream: Optional[TextIO] = None) -> bool:
    """Whether ``stream`` (default: the current ``sys.stderr``, where progress goes) is a terminal.

    Bars redraw themselves with ``\\r``, which in a log file or CI output becomes one line per
    update; callers show bars only when this is true and print one line per epoch otherwise.
    """
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_line(text: str, stream: Optional[TextIO] = None) -> None:
    """Write ``text`` as one line to ``stream`` (default: ``sys.stderr``) and flush it."""
    stream = sys.stderr if stream is None else stream
    stream.write(text.rstrip("\n") + "\n")
    stream.flush()
