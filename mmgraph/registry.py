"""The model registry: every fusion model (graph or baseline) by name, one interface."""

from __future__ import annotations

import inspect
from typing import Any, Callable, TypeVar

from torch import nn

__all__ = ["register_model", "get_model", "get_model_builder", "list_models"]

_MODELS: dict[str, Callable[..., nn.Module]] = {}

M = TypeVar("M", bound=Callable[..., nn.Module])


def register_model(name: str) -> Callable[[M], M]:
    """Class/function decorator adding a model builder under ``name``.

    A registered builder takes ``in_dims``, ``hidden`` and ``out_dim`` (plus keyword
    options) and returns an ``nn.Module`` whose ``forward`` takes a
    :class:`~mmgraph.MultimodalBatch`.
    """

    def wrap(fn: M) -> M:
        if name in _MODELS:
            raise ValueError(f"a model named {name!r} is already registered")
        _MODELS[name] = fn
        return fn

    return wrap


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_MODELS)


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    """The class/function registered under ``name``."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; registered models: {list_models()}")
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
