"""Facts about the machine a benchmark ran on, and the peak memory it used.

Nothing personal is recorded: no host name (not even hashed), user name, paths or
environment variables, only software versions and hardware that matter for timings.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any, Optional, Union

import torch

__all__ = ["machine_facts", "peak_memory_mb", "reset_peak_memory"]

DeviceLike = Union[str, torch.device, None]


def _version(dist: str, module: str) -> Optional[str]:
    """The installed version of ``dist`` (``module.__version__`` first), ``None`` when unavailable."""
    mod = sys.modules.get(module)
    version = getattr(mod, "__version__", None) if mod is not None else None
    if isinstance(version, str):
        return version
    try:
        from importlib import metadata

        return metadata.version(dist)
    except Exception:  # PackageNotFoundError, or broken metadata
        return None


def _cpu_model() -> Optional[str]:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                # x86: "model name"; some ARM kernels: "Processor" / "Hardware" / "CPU part" only
                if sep and key.strip().lower() in ("model name", "processor name", "cpu model"):
                    value = " ".join(value.split())
                    if value:
                        return value
    except OSError:
        pass
    name = platform.processor() or platform.machine()
    return name or None


def _total_memory_gib() -> Optional[float]:
    """Total physical memory in GiB (1 decimal) from ``/proc/meminfo``, else ``psutil``, else ``None``."""
    try:
        with open("/proc/meminfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    parts = line.split()
                    kib = float(parts[1])
                    return round(kib / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
    except ImportError:
        return None
    try:
        return round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:  # pragma: no cover - platform dependent
        return None


def _resolve_device(device: DeviceLike) -> torch.device:
    """``device`` as a :class:`torch.device`; ``None`` means CUDA if it is initialised in this process, else CPU."""
    if device is None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: not a valid torch device: {device!r} ({exc})") from None
    if dev.type == "cuda" and dev.index is None and torch.cuda.is_available():
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def machine_facts(device: DeviceLike = None) -> dict[str, Any]:
    """Software versions and hardware of this machine, for the ``"machine"`` entry of results.json.

    Args:
        device: The device the benchmark runs on (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...).
            ``None``: the first CUDA device if CUDA is available, else the CPU.

    Returns:
        A JSON-serialisable dict with the keys

        - ``python``, ``torch``, ``torch_geometric``, ``mmgraph``: versions (``str``; ``None``
          for a package that is not installed);
        - ``platform``: OS and architecture (:func:`platform.platform`);
        - ``processor``: CPU model (``/proc/cpuinfo``'s ``model name`` on Linux);
        - ``logical_cores``: :func:`os.cpu_count`; ``torch_threads``: :func:`torch.get_num_threads`;
        - ``memory_gib``: total physical memory in GiB (``None`` when unknown);
        - ``device``: ``"cpu"``, or the CUDA device's name (e.g. ``"NVIDIA H200"``);
        - ``cuda``: the CUDA version torch was built with when the device is a GPU, else ``None``;
        - ``gpu_memory_gib``: the GPU's total memory in GiB, or ``None`` on the CPU.

        No host name or other personal data is included.
    """
    if device is None:
        dev = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    else:
        dev = _resolve_device(device)
    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": _version("torch", "torch"),
        "torch_geometric": _version("torch_geometric", "torch_geometric"),
        "mmgraph": _version("mmgraph", "mmgraph"),
        "platform": platform.platform(terse=True),
        "processor": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": _total_memory_gib(),
        "device": "cpu",
        "cuda": None,
        "gpu_memory_gib": None,
    }
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {str(dev)!r} requested but CUDA is not available")
        props = torch.cuda.get_device_properties(dev)
        facts["device"] = str(props.name)
        facts["cuda"] = torch.version.cuda
        facts["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    elif dev.type != "cpu":
        facts["device"] = dev.type  # e.g. "mps"
    return facts


def reset_peak_memory(device: DeviceLike = None) -> None:
    """Reset CUDA's peak-allocation counter of ``device`` (see :func:`peak_memory_mb`).

    On the CPU this does nothing: a process's peak resident set size cannot be reset.
    """
    dev = _resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def peak_memory_mb(device: DeviceLike = None) -> float:
    """Peak memory in MiB (2**20 bytes).

    - On a CUDA device: :func:`torch.cuda.max_memory_allocated` — the peak of the tensors
      allocated by PyTorch since the start or the last :func:`reset_peak_memory`.
    - On the CPU: the process's peak resident set size (``ru_maxrss`` of
      :func:`resource.getrusage`, KiB on Linux and bytes on macOS; ``psutil``'s peak working
      set on Windows). This covers the whole process since it started (the interpreter,
      libraries and every model trained in it so far) and cannot be reset, so a model's
      value is an upper bound when several run in one process.

    Args:
        device: ``None``: CUDA if it is initialised in this process, else the CPU.

    Returns:
        The peak in MiB, or ``nan`` where no measurement is available.
    """
    dev = _resolve_device(device)
    if dev.type == "cuda":
        return float(torch.cuda.max_memory_allocated(dev)) / 2**20
    try:
        import resource
    except ImportError:  # Windows
        try:
            import psutil

            info = psutil.Process().memory_info()
            return float(getattr(info, "peak_wset", info.rss)) / 2**20
        except Exception:
            return float("nan")
    maxrss = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    if sys.platform == "darwin":
        return maxrss / 2**20  # bytes
    return maxrss / 2**10  # KiB
