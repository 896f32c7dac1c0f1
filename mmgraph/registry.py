"""The model registry: every fusion model (graph or baseline) by name, one interface."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional, TypeVar

from torch import nn

__all__ = ["register_model", "get_model", "get_model_builder", "list_models", "model_family", "FAMILIES"]

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_FAMILY: dict[str, str] = {}

#: Model families. ``"fusion"`` models map a :class:`~mmgraph.MultimodalBatch` to ``(B, out_dim)``
#: and share one contract (``tests/test_registry.py``); ``"retrieval"`` (dual encoders and
#: re-rankers) and ``"captioning"`` models are built for their benchmark tasks from fusion models.
FAMILIES = ("fusion", "retrieval", "captioning")

M = TypeVar("M", bound=Callable[..., nn.Module])


def register_model(name: str, family: str = "fusion") -> Callable[[M], M]:
    """Class/function decorator adding a model builder under ``name``.

    A registered builder takes ``in_dims`` and ``hidden`` (fusion models also ``out_dim``, plus
    keyword options) and returns an ``nn.Module`` whose ``forward`` takes a
    :class:`~mmgraph.MultimodalBatch`.

    Args:
        name: The model's name (unique across families).
        family: One of :data:`FAMILIES`.
    """
    if family not in FAMILIES:
        raise ValueError(f"family: expected one of {list(FAMILIES)}, got {family!r}")

    def wrap(fn: M) -> M:
        if name in _MODELS:
            raise ValueError(f"a model named {name!r} is already registered")
        _MODELS[name] = fn
        _FAMILY[name] = family
        return fn

    return wrap


def list_models(family: Optional[str] = "fusion") -> list[str]:
    """Names of the registered models of ``family`` (``None``: every family), sorted."""
    if family is None:
        _load(None)
        return sorted(_MODELS)
    if family not in FAMILIES:
        raise ValueError(f"family: expected one of {list(FAMILIES)} or None, got {family!r}")
    _load(family)
    return sorted(n for n in _MODELS if _FAMILY[n] == family)


def model_family(name: str) -> str:
    """The family of registered model ``name``."""
    get_model_builder(name)
    return _FAMILY[name]


def _load(family: Optional[str]) -> None:
    """Import the modules that register the task models (they are not imported with ``mmgraph``)."""
    if family in (None, "retrieval"):
        import mmgraph.retrieval.models  # noqa: F401
    if family in (None, "captioning"):
        import mmgraph.captioning.models  # noqa: F401


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    """The class/function registered under ``name``."""
    if name not in _MODELS:
        _load(None)
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; registered models: {list_models(None)}")
    return _MODELS[name]


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name``.

    Example:
        >>> import mmgraph as mg
        >>> model = mg.get_model("concat", in_dims={"text": 16, "image": 8}, hidden=32, out_dim=3)

    Raises:
        ValueError: for an unknown name or an option the model does not take.
    """
    builder = get_model_builder(name)
    params = inspect.signature(builder).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            accepted = [p for p in params if p != "self"]
            raise ValueError(f"model {name!r} got unknown option(s) {unknown}; it accepts {accepted}")
    try:
        return builder(**kwargs)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise ValueError(f"model {name!r}: {exc}") from None
        raise
