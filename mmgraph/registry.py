"""The model registry: every fusion model (graph or baseline) by name, one interface."""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

if TYPE_CHECKING:
    from torch import nn

__all__ = ["register_model", "get_model", "get_model_builder", "list_models", "model_family", "unknown_model_message",
           "model_options", "FAMILIES"]

_MODELS: dict[str, Callable[..., "nn.Module"]] = {}
_FAMILY: dict[str, str] = {}

#: Model families. ``"fusion"`` models map a :class:`~mmgraph.MultimodalBatch` to ``(B, out_dim)``
#: and share one contract (``tests/test_registry.py``); ``"retrieval"`` (dual encoders and
#: re-rankers) and ``"captioning"`` models are built for their benchmark tasks from fusion models.
FAMILIES = ("fusion", "retrieval", "captioning")

M = TypeVar("M", bound=Callable[..., "nn.Module"])


def register_model(name: str, family: str = "fusion") -> Callable[[M], M]:
    """Class/function decorator adding a model builder under ``name``.

    A registered builder takes ``in_dims`` and ``hidden`` (fusion models also ``out_dim``, plus
    keyword options) and returns an ``nn.Module`` whose ``forward`` takes a
    :class:`~mmgraph.MultimodalBatch`. It takes ``task=`` only if it uses it (fusion models, whose
    head depends on it); a model built for one task (a re-ranker, a caption decoder) does not,
    and the benchmark harness passes each builder only the options it takes (:func:`model_options`).

    Args:
        name: The model's name (unique across families).
        family: One of :data:`FAMILIES`.
    """
    if family not in FAMILIES:
        raise ValueError(f"family: expected one of {list(FAMILIES)}, got {family!r}")

    def wrap(fn: M) -> M:
        if not str(getattr(fn, "__module__", "")).startswith("mmgraph."):
            _load(None)  # a user's model: load the built-ins first, so that a clash with one is reported now
        if name in _MODELS:
            raise ValueError(f"a model named {name!r} is already registered")
        _MODELS[name] = fn
        _FAMILY[name] = family
        return fn

    return wrap


_UNSET: Any = object()


def list_models(kind: Optional[str] = "fusion", *, family: Optional[str] = _UNSET) -> list[str]:
    """Names of the registered models of one kind, sorted.

    Args:
        kind: One of :data:`FAMILIES` (``"fusion"``, ``"retrieval"``, ``"captioning"``), or
            ``None`` for every registered model.
        family: The former name of ``kind`` (an alias; give one of the two).

    Example:
        >>> import mmgraph as mg
        >>> "graph-gat" in mg.list_models() and "dual-graph" in mg.list_models(kind="retrieval")
        True
    """
    if family is not _UNSET:
        if kind not in ("fusion", family):
            raise ValueError(f"list_models: give kind or its alias family, not both (got kind={kind!r}, "
                             f"family={family!r})")
        kind = family
    if kind is not None and kind not in FAMILIES:
        raise ValueError(f"kind: expected one of {list(FAMILIES)} or None, got {kind!r}")
    _load(kind)
    return sorted(n for n in _MODELS if kind is None or _FAMILY[n] == kind)


def model_family(name: str) -> str:
    """The family of registered model ``name``."""
    get_model_builder(name)
    return _FAMILY[name]


#: Modules whose import registers the built-in models of each family.
_FAMILY_MODULES = {
    "fusion": ("mmgraph.baselines", "mmgraph.nn.models"),
    "retrieval": ("mmgraph.retrieval.models",),
    "captioning": ("mmgraph.captioning.models",),
}


def _load(family: Optional[str]) -> None:
    """Import the modules that register the built-in models of ``family`` (``None``: all).

    ``import mmgraph`` imports none of them; the first lookup does.
    """
    for fam, modules in _FAMILY_MODULES.items():
        if family in (None, fam):
            for module in modules:
                importlib.import_module(module)


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    """The class/function registered under ``name``.

    Raises:
        ValueError: for an unknown name, with the closest registered names ("did you mean ...")
            and the models of the family a close name belongs to (fusion models otherwise).
    """
    if name not in _MODELS:
        _load(None)
    if name not in _MODELS:
        raise ValueError(unknown_model_message(name))
    return _MODELS[name]


def unknown_model_message(name: Any, kind: Optional[str] = None) -> str:
    """``"unknown model 'grpah-gat'; did you mean 'graph-gat'? fusion models: [...]"``.

    Args:
        name: The name that is not registered.
        kind: The family to list (``None``: the family of the closest name, else ``"fusion"``).
    """
    _load(None)
    close = difflib.get_close_matches(str(name), sorted(_MODELS), n=1, cutoff=0.6)
    if kind is None:
        kind = _FAMILY[close[0]] if close else "fusion"
    hint = f"did you mean {close[0]!r}? " if close else ""
    others = "|".join(repr(f) for f in FAMILIES if f != kind)
    return f"unknown model {name!r}; {hint}{kind} models: {list_models(kind)} (others: list_models(kind={others}))"


def model_options(builder: Callable[..., Any]) -> Optional[frozenset[str]]:
    """The keyword names ``builder`` accepts (``None``: any name).

    A class's ``**options`` are followed up its bases, so a model that passes its common options
    on to :class:`~mmgraph.nn.FusionModel` reports those too.
    """
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names: set[str] = set()
    targets = [c.__init__ for c in builder.__mro__] if isinstance(builder, type) else [builder]
    for target in targets:
        params = inspect.signature(target).parameters
        names |= {n for n, p in params.items() if p.kind in kinds and n != "self"}
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return frozenset(names)
    return None


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name``.

    Example:
        >>> import mmgraph as mg
        >>> model = mg.get_model("concat", in_dims={"text": 16, "image": 8}, hidden=32, out_dim=3)

    Raises:
        ValueError: for an unknown name, an option the model does not take, or sizes too large
            to allocate (naming them).
    """
    builder = get_model_builder(name)
    accepted = model_options(builder)
    if accepted is not None:
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            raise ValueError(f"model {name!r} got unknown option(s) {unknown}; it accepts {sorted(accepted)}")
    try:
        return builder(**kwargs)
    except TypeError as exc:
        if "unexpected keyword argument" in str(exc):
            raise ValueError(f"model {name!r}: {exc}") from None
        raise
    except (RuntimeError, MemoryError, OverflowError) as exc:  # sizes too large to allocate
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, RuntimeError) and not any(w in text.lower() for w in ("alloc", "overflow", "memory")):
            raise
        sizes = {k: v for k, v in kwargs.items() if k in ("in_dims", "hidden", "out_dim", "heads", "num_layers")}
        raise ValueError(f"model {name!r}: cannot allocate it with {sizes}: {text[:200]}") from None
