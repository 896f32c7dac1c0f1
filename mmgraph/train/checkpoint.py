"""Model checkpoints: weights in safetensors, metadata as JSON, optimizer state alongside; atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Union

import safetensors
import safetensors.torch  # called as ``safetensors.torch.save_file`` so that tests can patch it
import torch
from torch import Tensor, nn

from mmgraph.utils.io import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "read_metadata", "optimizer_path", "upgrade_state_dict", "METADATA_KEY"]

PathLike = Union[str, "os.PathLike[str]"]

#: Key of the safetensors header metadata under which the user metadata is stored (JSON-encoded).
METADATA_KEY = "mmgraph.metadata"
_OPTIMIZER_KEY = "mmgraph.optimizer"  # name of the sibling optimizer file, when one was saved
_FORMAT_KEY = "format"  # "pt", as safetensors.torch.save_model writes


def optimizer_path(path: PathLike) -> Path:
    """Where :func:`save_checkpoint` puts the optimizer state of the checkpoint ``path``.

    ``run/best.safetensors`` → ``run/best.optim.pt`` (``ckpt`` → ``ckpt.optim.pt``).
    """
    path = Path(path)
    stem = path.stem if path.suffix == ".safetensors" else path.name
    return path.with_name(stem + ".optim.pt")


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
    safetensors header, so it can be read without loading the tensors. The optimizer state,
    when given, goes to :func:`optimizer_path` ``(path)`` via :func:`torch.save`.

    Every file is written atomically: to a temporary file in the same directory, fsynced,
    then renamed over the destination with :func:`os.replace`, so a crash or error mid-write
    leaves the previous checkpoint intact and no temporary file behind. The optimizer file is
    written first and the weights file last.

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
    header = {_FORMAT_KEY: "pt", METADATA_KEY: encoded}
    tensors = _tensors_for_saving(model)
    if optimizer is not None:
        opt_file = optimizer_path(path)
        state = optimizer.state_dict()
        atomic_write(opt_file, lambda tmp: torch.save(state, tmp))
        header[_OPTIMIZER_KEY] = opt_file.name
    atomic_write(path, lambda tmp: safetensors.torch.save_file(tensors, tmp, metadata=header))
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


def read_metadata(path: PathLike) -> dict[str, Any]:
    """The metadata dict stored in the checkpoint ``path`` (without loading any tensor)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {str(path)!r}")
    with safetensors.safe_open(str(path), framework="pt") as f:
        header = f.metadata() or {}
    return json.loads(header.get(METADATA_KEY, "{}"))


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
        optimizer: If given, its state is loaded from :func:`optimizer_path` ``(path)``.
        strict: If ``True``, the checkpoint and the model must have exactly the same tensor
            names; if ``False``, missing and unexpected names are ignored. Shapes must
            always match.

    Returns:
        The metadata dict given to :func:`save_checkpoint` (``{}`` if none).

    Raises:
        FileNotFoundError: if ``path`` (or, with ``optimizer``, the optimizer file) does not exist.
        ValueError: for a tensor whose shape differs from the model's (naming it, expected vs
            got), missing/unexpected tensor names with ``strict=True``, or an ``optimizer``
            when the checkpoint was saved without one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {str(path)!r}")
    own = model.state_dict()
    with safetensors.safe_open(str(path), framework="pt", device="cpu") as f:
        header = f.metadata() or {}
        state = upgrade_state_dict(model, {name: f.get_tensor(name) for name in f.keys()})
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
    metadata = json.loads(header.get(METADATA_KEY, "{}"))
    opt_state = None
    if optimizer is not None:
        if _OPTIMIZER_KEY not in header:
            raise ValueError(f"checkpoint {str(path)!r} was saved without optimizer state; pass optimizer=None")
        opt_file = path.with_name(header[_OPTIMIZER_KEY])
        if not opt_file.is_file():
            raise FileNotFoundError(f"optimizer state of checkpoint {str(path)!r} not found: {str(opt_file)!r}")
        opt_state = torch.load(opt_file, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=False)
    if opt_state is not None:
        optimizer.load_state_dict(opt_state)  # moves the state to the parameters' devices
    return metadata
