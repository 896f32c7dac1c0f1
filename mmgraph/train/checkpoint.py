"""Model checkpoints: weights in safetensors, metadata as JSON, optimizer state alongside; atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any, Optional, Union

import safetensors
import safetensors.torch  # called as ``safetensors.torch.save_file`` so that tests can patch it
import torch
from torch import Tensor, nn

from mmgraph.utils.io import atomic_write, remove_stale_temps

__all__ = ["save_checkpoint", "load_checkpoint", "read_metadata", "checkpoint_shapes", "optimizer_path",
           "tensors_sha256", "upgrade_state_dict", "METADATA_KEY"]

PathLike = Union[str, "os.PathLike[str]"]

#: Key of the safetensors header metadata under which the user metadata is stored (JSON-encoded).
METADATA_KEY = "mmgraph.metadata"
_OPTIMIZER_KEY = "mmgraph.optimizer"  # name of the sibling optimizer file, when one was saved
_OPTIMIZER_HASH_KEY = "mmgraph.optimizer.sha256"  # SHA-256 of that file's bytes
_HASH_KEY = "mmgraph.sha256"  # SHA-256 of the tensors (names, dtypes, shapes, bytes), checked on load
_FORMAT_KEY = "format"  # "pt", as safetensors.torch.save_model writes


def optimizer_path(path: PathLike) -> Path:
    """The optimizer file that the checkpoint ``path`` names (saved with ``optimizer=``).

    ``run/last.safetensors`` → ``run/last.optim.<generation>.pt``: each save writes its optimizer
    state under a new name and removes the previous one only after the weights naming the new
    one are in place, so an interrupted save leaves the previous weights with their own
    optimizer state.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the checkpoint was saved without optimizer state, or cannot be read.
    """
    header = _header(Path(path))
    if _OPTIMIZER_KEY not in header:
        raise ValueError(f"checkpoint {str(path)!r} was saved without optimizer state")
    return Path(path).with_name(_plain_name(header[_OPTIMIZER_KEY], path))


def _optimizer_stem(path: Path) -> str:
    return (path.stem if path.suffix == ".safetensors" else path.name) + ".optim"


def _plain_name(name: Any, path: PathLike) -> str:
    """``name`` if it is a plain file name (no folder, not ``..``), else a ``ValueError``."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"checkpoint {str(path)!r}: its optimizer file name {name!r} is not a plain file name")
    return name


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tensors_sha256(tensors: dict[str, Tensor]) -> str:
    """SHA-256 over the tensors' names, dtypes, shapes and bytes, in name order (CPU tensors)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _tensors_for_saving(model: nn.Module) -> dict[str, Tensor]:
    """The model's state as contiguous CPU tensors; tensors sharing memory are copied (safetensors refuses them)."""
    state = model.state_dict()
    out: dict[str, Tensor] = {}
    seen: set[tuple[str, int]] = set()
    for name, value in state.items():
        if not isinstance(value, Tensor):
            raise ValueError(
                f"cannot save state entry {name!r} of type {type(value).__name__}: safetensors stores tensors only"
            )
        t = value.detach().to("cpu").contiguous()
        key = (str(t.device), t.untyped_storage().data_ptr()) if t.numel() else None
        if key is not None and key in seen:
            t = t.clone()  # storage shared with an earlier entry (tied weights): safetensors needs a copy
        if key is not None:
            seen.add(key)
        out[name] = t
    return out


def save_checkpoint(
    path: PathLike,
    model: nn.Module,
    metadata: Optional[dict[str, Any]] = None,
    optimizer: Optional[torch.optim.Optimizer] = None,
) -> Path:
    """Save ``model``'s state (parameters and buffers) to ``path`` in the safetensors format.

    ``metadata`` (JSON-serialisable) is stored JSON-encoded under :data:`METADATA_KEY` in the
    safetensors header, so it can be read without loading the tensors, together with a SHA-256
    of the tensors that :func:`load_checkpoint` verifies. The optimizer state, when given, goes
    to a file of its own (:func:`optimizer_path`) via :func:`torch.save`; the weights' header
    names it and holds its SHA-256.

    Every file is written atomically: to a temporary file in the same directory, fsynced,
    then renamed over the destination with :func:`os.replace`, so a crash or error mid-write
    leaves the previous checkpoint intact. The optimizer file is written first under a new
    name, the weights file last, and the previous optimizer file is removed only then: a kill
    at any point leaves weights and optimizer state from the same save.

    Args:
        path: Destination file, conventionally ``*.safetensors``; its directory must exist.
        model: The module to save.
        metadata: Optional JSON-serialisable dict (e.g. ``{"epoch": 3, "val": {"acc": 0.9}}``).
        optimizer: Optional optimizer whose ``state_dict()`` is saved alongside.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: if ``metadata`` is not a JSON-serialisable dict, or the state holds a non-tensor entry.
        FileNotFoundError: if the directory of ``path`` does not exist.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save checkpoint {str(path)!r}: directory {str(path.parent)!r} does not exist")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"metadata: expected a dict or None, got {type(metadata).__name__}")
    try:
        encoded = json.dumps(metadata if metadata is not None else {}, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata: must be JSON-serialisable: {exc}") from None
    tensors = _tensors_for_saving(model)
    header = {_FORMAT_KEY: "pt", METADATA_KEY: encoded, _HASH_KEY: tensors_sha256(tensors)}
    opt_stem = _optimizer_stem(path)
    if optimizer is not None:
        state = optimizer.state_dict()
        opt_file = path.with_name(f"{opt_stem}.{uuid.uuid4().hex[:12]}.pt")  # a new generation
        atomic_write(opt_file, lambda tmp: torch.save(state, tmp))
        header[_OPTIMIZER_KEY] = opt_file.name
        header[_OPTIMIZER_HASH_KEY] = _sha256_file(opt_file)
    atomic_write(path, lambda tmp: safetensors.torch.save_file(tensors, tmp, metadata=header))
    generation = re.compile(re.escape(opt_stem) + r"(\.[0-9a-f]{12})?\.pt")
    for old in path.parent.glob(f"{opt_stem}*.pt"):  # earlier generations, now that the weights name another
        if old.name != header.get(_OPTIMIZER_KEY) and generation.fullmatch(old.name):
            old.unlink(missing_ok=True)
    remove_stale_temps(path.parent, opt_stem + ".")  # of generations whose save was killed mid-write
    return path


def upgrade_state_dict(model: nn.Module, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename/restack the tensors of an older checkpoint into the model's current layout.

    Every submodule with an ``upgrade_state_dict(state, prefix)`` method (e.g.
    :class:`~mmgraph.nn.HeteroGNN`, whose layers once ran one convolution per edge type)
    rewrites its own entries; other entries pass unchanged.
    """
    state = dict(state)
    for name, module in model.named_modules():
        upgrade = getattr(module, "upgrade_state_dict", None)
        if callable(upgrade):
            upgrade(state, f"{name}." if name else "")
    return state


def _header(path: Path) -> dict[str, str]:
    """The safetensors header metadata of ``path``, or a ``ValueError``/``FileNotFoundError`` naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {str(path)!r}" + (" (a folder)" if path.is_dir() else ""))
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise ValueError(f"checkpoint {str(path)!r} is not a readable safetensors file "
                         f"({type(exc).__name__}: {str(exc)[:120]})") from None


def _decode_metadata(header: dict[str, str], path: Path) -> dict[str, Any]:
    try:
        metadata = json.loads(header.get(METADATA_KEY, "{}"))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"checkpoint {str(path)!r}: its metadata is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(metadata, dict):
        raise ValueError(f"checkpoint {str(path)!r}: its metadata must be a JSON object, got {type(metadata).__name__}")
    return metadata


def read_metadata(path: PathLike) -> dict[str, Any]:
    """The metadata dict stored in the checkpoint ``path`` (without loading any tensor).

    Raises:
        FileNotFoundError: if ``path`` is not a file.
        ValueError: if it is not a safetensors file, or its metadata is not a JSON object.
    """
    path = Path(path)
    return _decode_metadata(_header(path), path)


def checkpoint_shapes(path: PathLike) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor in the checkpoint ``path``, read from its header alone."""
    path = Path(path)
    _header(path)
    with safetensors.safe_open(str(path), framework="pt") as f:
        return {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}


def load_checkpoint(
    path: PathLike,
    model: nn.Module,
    optimizer: Optional[torch.optim.Optimizer] = None,
    strict: bool = True,
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model`` (and ``optimizer``).

    Tensors are copied into the model's existing parameters and buffers (so they keep their
    device and dtype, as with :meth:`torch.nn.Module.load_state_dict`), giving back exactly
    the saved values when the dtypes are the same.

    Args:
        path: The ``*.safetensors`` file.
        model: A module with the same architecture.
        optimizer: If given, its state is loaded from the file the checkpoint names
            (:func:`optimizer_path`), after checking its SHA-256.
        strict: If ``True``, the checkpoint and the model must have exactly the same tensor
            names; if ``False``, missing and unexpected names are ignored. Shapes must
            always match.

    Returns:
        The metadata dict given to :func:`save_checkpoint` (``{}`` if none).

    Raises:
        FileNotFoundError: if ``path`` (or, with ``optimizer``, the optimizer file) does not exist.
        ValueError: for a file that is not a checkpoint or is corrupt (SHA-256 mismatch, truncated),
            an optimizer file from another save, a tensor whose shape differs from the model's (naming it, expected vs
            got), missing/unexpected tensor names with ``strict=True``, or an ``optimizer``
            when the checkpoint was saved without one.
    """
    path = Path(path)
    header = _header(path)
    metadata = _decode_metadata(header, path)
    own = model.state_dict()
    try:
        with safetensors.safe_open(str(path), framework="pt", device="cpu") as f:
            saved = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as exc:  # noqa: BLE001 - e.g. a truncated file
        raise ValueError(f"checkpoint {str(path)!r}: cannot read its tensors ({type(exc).__name__}: "
                         f"{str(exc)[:120]})") from None
    if _HASH_KEY in header and tensors_sha256(saved) != header[_HASH_KEY]:
        raise ValueError(f"checkpoint {str(path)!r} is corrupt: its tensors do not match the SHA-256 saved with them")
    state = upgrade_state_dict(model, saved)
    wrong = [
        f"tensor {name!r} has shape {tuple(state[name].shape)}, but the model expects {tuple(tensor.shape)}"
        for name, tensor in own.items() if name in state and state[name].shape != tensor.shape
    ]
    if wrong:
        raise ValueError(f"checkpoint {str(path)!r} does not fit the model: " + "; ".join(wrong))
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if strict and (missing or unexpected):
        raise ValueError(
            f"checkpoint {str(path)!r} does not match the model: missing {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''}, unexpected {unexpected[:10]}"
            f"{' ...' if len(unexpected) > 10 else ''} (pass strict=False to ignore)"
        )
    state = {name: value for name, value in state.items() if name in own}
    opt_state = None
    if optimizer is not None:
        if _OPTIMIZER_KEY not in header:
            raise ValueError(f"checkpoint {str(path)!r} was saved without optimizer state; pass optimizer=None")
        opt_file = path.with_name(_plain_name(header[_OPTIMIZER_KEY], path))
        if not opt_file.is_file():
            raise FileNotFoundError(f"optimizer state of checkpoint {str(path)!r} not found: {str(opt_file)!r}")
        if _OPTIMIZER_HASH_KEY in header and _sha256_file(opt_file) != header[_OPTIMIZER_HASH_KEY]:
            raise ValueError(f"optimizer state {str(opt_file)!r} does not belong to checkpoint {str(path)!r} "
                             "(its SHA-256 differs from the one saved with the weights)")
        try:
            opt_state = torch.load(opt_file, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch's reader raises RuntimeError/UnpicklingError
            raise ValueError(f"optimizer state {str(opt_file)!r} cannot be read ({type(exc).__name__}: "
                             f"{str(exc)[:120]})") from None
    model.load_state_dict(state, strict=False)
    if opt_state is not None:
        optimizer.load_state_dict(opt_state)  # moves the state to the parameters' devices
    return metadata
