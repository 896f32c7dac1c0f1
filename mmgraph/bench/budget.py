"""Equal parameter budgets: the width at which a model has a given number of parameters."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence, Union

from torch import nn

from mmgraph.registry import get_model, get_model_builder, model_options
from mmgraph.utils.seed import seed_everything

__all__ = ["build_model", "count_parameters", "match_budget", "match_widths"]


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _closest(count: Callable[[int], int], target: int, step: int, max_hidden: int) -> tuple[int, int]:
    """The multiple of ``step`` whose count is closest to ``target`` (counts grow with the width)."""
    cache: dict[int, int] = {}

    def counted(h: int) -> int:
        if h not in cache:
            cache[h] = count(h)
        return cache[h]

    lo, hi = 1, max(1, max_hidden // step)
    while lo < hi:
        mid = (lo + hi) // 2
        if counted(mid * step) < target:
            lo = mid + 1
        else:
            hi = mid
    candidates = [h * step for h in (lo - 1, lo) if h >= 1]
    best = min(candidates, key=lambda h: abs(counted(h) - target))
    return best, counted(best)


def build_model(task: Any, name: str, hidden: int, seed: int = 0) -> nn.Module:
    """Model ``name`` for the benchmark ``task`` with width ``hidden``, initialised under ``seed``."""
    seed_everything(seed)
    kwargs = task.model_kwargs(name, hidden)
    in_dims = {**task.in_dims(), **kwargs.pop("in_dims", {})}
    out_dim, kind = kwargs.pop("out_dim", task.out_dim), kwargs.pop("task", task.task)
    accepted = model_options(get_model_builder(name))
    if accepted is None or "task" in accepted:  # a builder takes task= only if it uses it
        kwargs["task"] = kind
    return get_model(name, in_dims=in_dims, hidden=hidden, out_dim=out_dim, **kwargs)


def match_budget(model: Union[str, Any], target: Union[int, str], *args: Any, in_dims: Optional[Mapping[str, int]] = None,
                 out_dim: int = 1, step: int = 8, max_hidden: int = 1024, **options: Any) -> tuple[int, int]:
    """The width (a multiple of ``step``) at which a model's parameter count is closest to ``target``: ``(hidden, params)``.

    ``match_budget("concat", 20_000, in_dims={"text": 300, "image": 26}, out_dim=10)`` builds the
    registered model from ``in_dims``/``out_dim`` and the model's ``**options`` (``task=``,
    ``builder=``, ``extractors=``, ...). For a benchmark task, ``match_budget(task, "concat", 20_000)``
    builds it as the benchmark does (:func:`~mmgraph.bench.build_model`). Parameter counts grow with
    the width, so a binary search finds the crossing point.
    """
    if not isinstance(model, str):  # (task, name, target)
        task, name, goal = model, target, (args[0] if args else options.pop("target"))
        return _closest(lambda h: count_parameters(build_model(task, str(name), h)), _check_target(goal), step, max_hidden)
    if args:
        raise ValueError(f"match_budget: unexpected positional arguments {args!r}; give model options by keyword")
    if in_dims is None:
        raise ValueError("match_budget: in_dims: expected {modality: feature width} (or call match_budget(task, name, target))")
    return _closest(lambda h: count_parameters(get_model(model, in_dims=dict(in_dims), hidden=h, out_dim=out_dim, **options)),
                    _check_target(target), step, max_hidden)


def _check_target(target: Any) -> int:
    if isinstance(target, bool) or not isinstance(target, int) or target < 1:
        raise ValueError(f"match_budget: target: expected a parameter count (an int >= 1), got {target!r}")
    return target


def match_widths(models: Sequence[str], in_dims: Mapping[str, int], out_dim: int = 1, hidden: int = 64,
                 reference: Optional[str] = None, options: Optional[Mapping[str, Mapping[str, Any]]] = None,
                 **shared: Any) -> dict[str, tuple[int, int]]:
    """``{model: (hidden, params)}``: every model's width matched to ``reference``'s parameter count at ``hidden``.

    Args:
        models: Registered model names.
        in_dims, out_dim: The models' inputs and outputs.
        hidden: The reference model's width.
        reference: The model that sets the budget (default: the first of ``models``).
        options: Options per model (e.g. ``{"graph-gat": {"builder": b}}``).
        **shared: Options of every model (e.g. ``task="regression"``).

    Example:
        >>> import mmgraph as mg
        >>> widths = mg.bench.match_widths(["graph-gat", "concat"], in_dims={"text": 16, "image": 8}, out_dim=3)
        >>> widths["graph-gat"][0]
        64
    """
    options = options or {}
    ref = reference or models[0]
    kwargs = lambda name: {**shared, **options.get(name, {})}  # noqa: E731
    target = count_parameters(get_model(ref, in_dims=dict(in_dims), hidden=hidden, out_dim=out_dim, **kwargs(ref)))
    out = {}
    for name in models:
        if name == ref:
            out[name] = (hidden, target)
        else:
            out[name] = match_budget(name, target, in_dims=in_dims, out_dim=out_dim, **kwargs(name))
    return out
