"""The benchmark task of any dataset: :class:`Task`."""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from mmgraph.bench.tasks.base import BenchTask, Example
from mmgraph.data.batch import MultimodalBatch, collate
from mmgraph.data.dataset import MultimodalDataset
from mmgraph.data.loader import MultimodalLoader
from mmgraph.data.sample import MultimodalSample
from mmgraph.graph.builder import GraphBuilder
from mmgraph.registry import get_model_builder, model_options
from mmgraph.train.kinds import get_kind

__all__ = ["Task", "SPLITS", "DEFAULT_MODELS"]

SPLITS = ("train", "val", "test")
#: The models a :class:`Task` compares unless told otherwise: graph fusion, then the baselines
#: (retrieval: dual encoders with graph towers, then pooled towers).
DEFAULT_MODELS = ("graph-relational", "graph-gat", "attention", "concat", "late")
RETRIEVAL_MODELS = ("dual-graph", "dual-pooled")

Extractor = Union[nn.Module, Callable[[], nn.Module]]


def _as_dataset(data: Any, split: str) -> Any:
    if isinstance(data, (list, tuple)):
        return MultimodalDataset(data)
    if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        raise ValueError(f"{split}: expected a dataset of MultimodalSample (a MultimodalDataset, a list of samples or "
                         f"any map-style dataset), got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"{split}: expected at least one sample, got an empty dataset")
    return data


class Task(BenchTask):
    r"""A benchmark task made of your own datasets: what ``mmgraph bench`` and :func:`mmgraph.bench.run` compare on.

    Every model of a comparison gets the same data, batches and graph builder, a fresh copy of the
    same extractors (e.g. a :class:`~mmgraph.nn.GridCNN` for images), a width matched to the
    reference model's parameter count, and its own learning rate from a sweep (see
    :func:`~mmgraph.bench.run_benchmark`). Samples that share a group key (all the questions of
    an image; see :class:`~mmgraph.data.MultimodalDataset`) are batched together.

    Args:
        name: Task name (results are written under it).
        train, val, test: The splits: :class:`~mmgraph.data.MultimodalDataset`\ s, lists of
            :class:`~mmgraph.MultimodalSample`, or map-style datasets of samples. Samples carry
            their target ``y``: a class index (classification), value(s) (regression), or a 0/1
            vector (multilabel).
        kind: ``"classification"``, ``"regression"``, ``"multilabel"`` or ``"retrieval"`` (loss, head
            and metrics; see :data:`mmgraph.train.kinds.KINDS`). A retrieval sample is a matching pair
            of two modalities (e.g. an image and a caption, ``query`` naming the text side) and its ``y``
            is the id of the item it shows; models are dual encoders trained with InfoNCE and scored
            by Recall@K both ways over a gallery of each split's items.
        classes: Class names (classification, multilabel); they set ``out_dim`` and make answers readable.
        out_dim: Number of outputs, when there are no ``classes`` (default for regression: the
            size of a target; for retrieval: 64, the embedding width).
        extractors: ``{modality: extractor}`` for raw modalities (:class:`~mmgraph.data.RawItem`),
            as a module class or factory (``GridCNN``, ``lambda: GridCNN(channels=(16,) * 4)``) or a
            module, of which each model gets a re-initialised copy.
        builder: The graph models' :class:`~mmgraph.GraphBuilder` (default: every modality
            fully linked, with a fusion node).
        query: The modality that attention and RN attend from (e.g. the question); for retrieval,
            the text side of the pairs.
        condition: The modality whose state conditions every message of the graph models that
            can be conditioned (``graph-relational``), e.g. the question.
        film: The modality that conditions every model's perception (``film=`` of every model:
            FiLM in modulable extractors such as ``GridCNN`` and on the other modalities' elements;
            see :class:`~mmgraph.nn.ModalityFiLM`), e.g. the question.
        metrics: ``(outputs, targets) -> {name: value}`` (default: the kind's).
        monitor, mode: Validation metric that selects epochs and learning rates (default: the kind's).
        models: The models compared by default; the first sets the parameter budget (default
            :data:`DEFAULT_MODELS`, for retrieval ``("dual-graph", "dual-pooled")``).
        model_options: Extra options per model name, e.g. ``{"graph-gat": {"heads": 2}}``.
        settings, quick_settings: Run settings over :data:`~mmgraph.bench.tasks.base.FULL_SETTINGS` /
            ``QUICK_SETTINGS`` (``epochs``, ``seeds``, ``lrs``, ``sweep_epochs``, ``hidden``, ``batch_size``).
        quick_sizes: ``--quick`` runs on the first ``(train, val, test)`` samples of each split.
        modality_dropout: Probability that a training sample loses each of its modalities (never all).
        ablations: Test metrics also reported with each modality removed from every test sample, as
            ``<metric>_without_<modality>`` (e.g. ``("acc",)``): how much each model relies on each modality.
        plateau: ``{test metric: threshold}``: a run has *left the plateau* (learned more than a
            trivial solution such as the answer prior) when every named metric is beyond its
            threshold, above it (below for a lower-is-better metric). Reports then count, per
            model, the seeds that left it (e.g. ``{"acc": 0.6}``).

    Example:
        >>> import torch, mmgraph as mg
        >>> make = lambda n: [mg.MultimodalSample(a=torch.randn(3, 4), b=torch.randn(2, 5), y=i % 2) for i in range(n)]
        >>> task = mg.bench.Task("toy", make(40), make(10), make(10), classes=["no", "yes"])
        >>> task.in_dims(), task.out_dim, task.monitor
        ({'a': 4, 'b': 5}, 2, 'acc')
    """

    def __init__(
        self,
        name: str,
        train: Any = None,
        val: Any = None,
        test: Any = None,
        *,
        kind: str = "classification",
        classes: Optional[Sequence[str]] = None,
        out_dim: Optional[int] = None,
        extractors: Optional[Mapping[str, Extractor]] = None,
        builder: Optional[GraphBuilder] = None,
        query: Optional[str] = None,
        condition: Optional[str] = None,
        film: Optional[str] = None,
        metrics: Optional[Callable[[Tensor, Tensor], Mapping[str, float]]] = None,
        monitor: Optional[str] = None,
        mode: Optional[str] = None,
        models: Optional[Sequence[str]] = None,
        model_options: Optional[Mapping[str, Mapping[str, Any]]] = None,
        settings: Optional[Mapping[str, Any]] = None,
        quick_settings: Optional[Mapping[str, Any]] = None,
        quick_sizes: tuple[int, int, int] = (200, 50, 50),
        modality_dropout: float = 0.0,
        ablations: Sequence[str] = (),
        plateau: Optional[Mapping[str, float]] = None,
    ) -> None:
        if not isinstance(name, str) or not name or any(c in name for c in "/\\"):
            raise ValueError(f"name: expected a non-empty name without slashes, got {name!r}")
        self.kind = get_kind(kind)
        self.name, self.task = name, self.kind.head
        self.classes = None if classes is None else [str(c) for c in classes]
        self._given_out_dim = out_dim
        self.extractors = dict(extractors or {})
        if builder is not None and not isinstance(builder, GraphBuilder):
            raise ValueError(f"builder: expected a mmgraph.GraphBuilder, got {type(builder).__name__}")
        self._builder = builder
        self.query, self.condition, self.film = query, condition, film
        self._metrics = metrics
        self.monitor = monitor or self.kind.monitor
        self.mode = mode or ("min" if _lower_is_better(self.monitor) else "max")
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
        self.default_models = tuple(models or (RETRIEVAL_MODELS if kind == "retrieval" else DEFAULT_MODELS))
        self.model_options = {k: dict(v) for k, v in (model_options or {}).items()}
        self.full_settings, self.quick_settings = dict(settings or {}), dict(quick_settings or {})
        self.quick_sizes = tuple(quick_sizes)
        if isinstance(modality_dropout, bool) or not isinstance(modality_dropout, (int, float)) \
                or not 0 <= modality_dropout < 1:
            raise ValueError(f"modality_dropout: expected a probability in [0, 1), got {modality_dropout!r}")
        self.modality_dropout = float(modality_dropout)
        self.ablations = tuple(ablations)
        self.plateau = _check_plateau(plateau)
        self._in_dims: Optional[dict[str, int]] = None
        self.splits: dict[str, Any] = {}
        self.data: dict[str, Any] = {}
        given = [d is not None for d in (train, val, test)]
        if any(given) and not all(given):
            raise ValueError("expected all of train, val and test datasets (or none, for a task whose load() makes them)")
        if all(given):
            self.set_splits(train, val, test)

    def set_splits(self, train: Any, val: Any, test: Any) -> None:
        """Use these datasets (checked: samples with targets, extractors for raw modalities, known query)."""
        self.splits = {s: _as_dataset(d, s) for s, d in zip(SPLITS, (train, val, test))}
        self.data = dict(self.splits)
        self._in_dims = None
        self._check_modalities()
        self.out_dim = self._out_dim(self._given_out_dim)
        for split, data in self.splits.items():
            _check_targets(data, split, self.kind.name, self.out_dim)

    # ------------------------------------------------------------------ construction checks

    def _out_dim(self, out_dim: Optional[int]) -> int:
        if self.classes is not None:
            if out_dim is not None and out_dim != len(self.classes):
                raise ValueError(f"out_dim: expected {len(self.classes)} (the number of classes) or None, got {out_dim!r}")
            return len(self.classes)
        if out_dim is not None:
            if isinstance(out_dim, bool) or not isinstance(out_dim, int) or out_dim < 1:
                raise ValueError(f"out_dim: expected an int >= 1, got {out_dim!r}")
            return out_dim
        if self.kind.name == "retrieval":
            return 64
        if self.kind.name != "regression":
            raise ValueError(f"a {self.kind.name} task needs classes=[names] or out_dim=number of classes")
        y = self.splits["train"][0].y
        return 1 if y is None else max(1, int(y.numel()))

    def _check_modalities(self) -> None:
        first = {s: d[0] for s, d in self.splits.items()}
        for split, sample in first.items():
            if not isinstance(sample, MultimodalSample):
                raise ValueError(f"{split}: sample 0: expected a MultimodalSample, got {type(sample).__name__}")
            if sample.y is None:
                raise ValueError(f"{split}: sample 0 has no target y; every sample of a task needs one")
        raw = sorted({n for s in first.values() for n in s.raw})
        missing = [n for n in raw if n not in self.extractors]
        extra = sorted(set(self.extractors) - set(raw))
        if extra:
            raise ValueError(f"extractors given for {extra}, which the samples do not hold as raw input "
                             f"(RawItem); raw modalities: {raw}")
        if missing:
            raise ValueError(f"raw modalities {missing} need an extractor (e.g. extractors={{{missing[0]!r}: "
                             "mmgraph.nn.GridCNN}) to turn them into elements")
        names = sorted({n for s in first.values() for n in list(s) + list(s.raw)})
        for what, value in (("query", self.query), ("condition", self.condition), ("film", self.film)):
            if value is not None and value not in names:
                raise ValueError(f"{what}: expected one of the modalities {names}, got {value!r}")

    # ------------------------------------------------------------------ BenchTask interface

    def load(self, quick: bool, seed: int = 0) -> None:
        """Use the whole splits, or with ``quick`` their first :attr:`quick_sizes` samples (``seed`` is unused)."""
        if not self.splits:
            raise ValueError(f"task {self.name!r} has no data: give train, val and test datasets")
        if not quick:
            self.data = dict(self.splits)
            return
        self.data = {}
        for split, n in zip(SPLITS, self.quick_sizes):
            d = self.splits[split]
            self.data[split] = d if len(d) <= n else _subset(d, n)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind.name, "samples": {s: len(d) for s, d in self.data.items()}, "out_dim": self.out_dim,
                "in_dims": self.in_dims(), "query": self.query, "condition": self.condition, "film": self.film,
                "modality_dropout": self.modality_dropout}

    def in_dims(self) -> dict[str, int]:
        """Feature width per modality: from the first training sample, and each extractor's ``out_dim``."""
        if self._in_dims is None:
            sample = self.splits["train"][0]
            dims = {n: sample[n].feature_dim for n in sample}
            for n in sorted(self.extractors):
                dims[n] = int(self._extractor(n).out_dim)
            self._in_dims = dims
        return dict(self._in_dims)

    def builder(self) -> Optional[GraphBuilder]:
        """The graph models' builder (``None``: the model's default, every modality fully linked)."""
        return self._builder

    def _extractor(self, name: str) -> nn.Module:
        spec = self.extractors[name]
        if isinstance(spec, nn.Module):
            module = copy.deepcopy(spec)
            for m in module.modules():
                if m is not module and hasattr(m, "reset_parameters"):
                    m.reset_parameters()
            return module
        module = spec()
        if not isinstance(module, nn.Module) or not hasattr(module, "out_dim"):
            raise ValueError(f"extractors[{name!r}]: expected an nn.Module with out_dim (e.g. GridCNN), got "
                             f"{type(module).__name__}")
        return module

    def model_kwargs(self, name: str, hidden: int) -> dict[str, Any]:
        """Options of model ``name``: builder (graph models), query, condition, fresh extractors, ``model_options``."""
        accepted = model_options(get_model_builder(name))
        takes_any = accepted is None
        params = accepted or frozenset()
        kwargs: dict[str, Any] = {}
        if name.startswith("graph-"):
            if self._builder is not None:
                kwargs["builder"] = self._builder
            if self.condition is not None and _conditionable(name):
                kwargs["condition"] = self.condition
        if self.query is not None and "query" in params:
            kwargs["query"] = self.query
        if self.query is not None and "text" in params:  # retrieval: the text side of the pairs
            kwargs["text"] = self.query
        if self.film is not None and ("film" in params or takes_any):
            kwargs["film"] = self.film
        if self.extractors and ("extractors" in params or takes_any):
            kwargs["extractors"] = {n: self._extractor(n) for n in sorted(self.extractors)}
        kwargs.update(self.model_options.get(name, {}))
        return kwargs

    def loss_fn(self) -> Callable[[Any, Tensor], Tensor]:
        return self.kind.loss

    def val_metrics(self) -> Callable[[Tensor, Tensor], Mapping[str, float]]:
        return self._metrics or self.kind.scores

    @property
    def metric_names(self) -> tuple[str, ...]:  # type: ignore[override]
        """The reported test metrics: the kind's (or, with ``metrics=``, those it returns), then the ablations."""
        if self._metrics is not None:
            return ()  # known once evaluated: the runner then records every metric returned
        k = self.out_dim
        if self.kind.name == "retrieval":
            names = tuple(self.kind.scores(torch.eye(2, k).unsqueeze(1).expand(2, 2, k), torch.arange(2)))
        else:
            y = torch.zeros(2, dtype=torch.long) if self.kind.name == "classification" else torch.zeros(2, k)
            names = tuple(self.kind.scores(torch.zeros(2, k), y))
        return names + self._ablation_names()

    def _ablation_names(self) -> tuple[str, ...]:
        return tuple(f"{m}_without_{n}" for m in self.ablations for n in sorted(self.in_dims()))

    def batches(self, split: str, batch_size: int, shuffle: bool, seed: int = 0,
                without: Sequence[str] = ()) -> MultimodalLoader:
        """Batches of ``split``, grouped by the dataset's group keys.

        Training batches (``split="train"``, ``shuffle=True``) apply :attr:`modality_dropout`, drawn
        from the batches' own seeded generator, the same for every model; ``without`` removes
        modalities from every batch (a batch keeps at least one).
        """
        if split not in self.data:
            raise ValueError(f"split: expected one of {list(self.data) or list(SPLITS)} (after load()), got {split!r}")
        data = self.data[split]
        if split == "train" and shuffle and self.modality_dropout > 0:
            data = _ModalityDropout(data, self.modality_dropout, seed + 7919)
        return MultimodalLoader(data, batch_size, shuffle=shuffle, seed=seed,
                                collate=_Without(tuple(without)) if without else None)

    def num_samples(self, split: str) -> int:
        return len(self.data[split])

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str, batch_size: int) -> dict[str, float]:
        """The metrics of ``model`` on ``split``, plus the ablations (each modality removed)."""
        from mmgraph.train.fit import predict

        preds, targets = predict(model, self.batches(split, batch_size, shuffle=False))
        scores = {k: float(v) for k, v in self.val_metrics()(preds, targets).items()}
        for name in sorted(self.in_dims()) if self.ablations else ():
            p, t = predict(model, self.batches(split, batch_size, shuffle=False, without=(name,)))
            without = self.val_metrics()(p, t)
            scores.update({f"{m}_without_{name}": float(without[m]) for m in self.ablations})
        return scores

    def example(self, split: str, index: int) -> Example:
        """Sample ``index`` of ``split``, with its element labels and its image (a 3-channel raw item), if any."""
        sample = self.data[split][self._check_index(split, index)]
        labels = {m: list(sample[m].labels) for m in sample if sample[m].labels is not None}
        image = next((r.data for r in sample.raw.values() if r.data.dim() == 3 and r.data.size(0) == 3), None)
        words = labels.get(self.query or "", [])
        title = " ".join(words) if words else f"{split} sample {index}"
        names = sorted(set(sample) | set(sample.raw))
        other = next((n for n in names if n != self.query), names[0])
        heatmap = (other, self.query or names[-1], bool(sample.raw) or self.query is None)
        return Example(collate([sample]), labels, image, title, self.describe_target(sample.y), heatmap)

    def describe_target(self, y: Optional[Tensor]) -> str:
        """A target, readable (a class name, a value)."""
        if y is None:
            return "?"
        if self.kind.name == "classification":
            i = int(y.reshape(-1)[0])
            return self.classes[i] if self.classes and 0 <= i < len(self.classes) else str(i)
        if self.kind.name == "multilabel":
            on = (y.reshape(-1) > 0.5).nonzero().reshape(-1).tolist()
            return ", ".join(self.classes[i] if self.classes else str(i) for i in on) or "(none)"
        return ", ".join(f"{v:+.3g}" for v in y.reshape(-1).tolist())

    def describe(self, output: Tensor) -> str:
        out = output.detach().reshape(-1)
        if self.kind.name == "classification":
            return self.describe_target(out.argmax().reshape(1))
        if self.kind.name == "multilabel":
            return self.describe_target((out > 0).float())
        if self.kind.name == "retrieval":
            return f"embeddings of {out.numel()} values"
        return self.describe_target(out)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{s}={len(d)}" for s, d in self.splits.items())
        return f"Task({self.name!r}, {self.kind.name}, {sizes}, out_dim={self.out_dim})"


def _check_targets(data: Any, split: str, kind: str, out_dim: int) -> None:
    """Every target of a dataset held in memory, against the kind and ``out_dim`` (lazy datasets: ``fit`` checks)."""
    samples = getattr(data, "_samples", None)
    if samples is None:
        return
    for i, s in enumerate(samples):
        y = s.y
        if y is None:
            raise ValueError(f"{split}: sample {i} has no target y; every sample of a task needs one")
        if kind == "classification":
            if y.numel() != 1 or y.is_floating_point() and float(y) != int(y) or not 0 <= int(y) < out_dim:
                raise ValueError(f"{split}: sample {i}: expected a class index in [0, {out_dim}), got y={y.tolist()}")
        elif kind == "retrieval":
            if y.numel() != 1 or y.is_floating_point():
                raise ValueError(f"{split}: sample {i}: expected the integer id of the item the pair shows, got "
                                 f"y={y.tolist()}")
        elif y.numel() != out_dim:
            raise ValueError(f"{split}: sample {i}: expected a target of {out_dim} value(s) (out_dim), got shape "
                             f"{tuple(y.shape)}")


def _lower_is_better(metric: str) -> bool:
    from mmgraph.bench.report import lower_is_better

    return lower_is_better(metric)


def _check_plateau(plateau: Optional[Mapping[str, float]]) -> Optional[dict[str, float]]:
    """``plateau`` as ``{metric: float}`` (``None`` stays ``None``)."""
    if plateau is None:
        return None
    if not isinstance(plateau, Mapping) or not plateau:
        raise ValueError(f"plateau: expected a non-empty mapping {{metric: threshold}}, got {plateau!r}")
    for metric, threshold in plateau.items():
        if not isinstance(metric, str) or isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ValueError(f"plateau: expected {{metric name: number}}, got {metric!r}: {threshold!r}")
    return {m: float(t) for m, t in plateau.items()}


def _conditionable(name: str) -> bool:
    from mmgraph.nn.hetero_gnn import CONDITIONABLE

    return name.removeprefix("graph-") in CONDITIONABLE


def _subset(data: Any, n: int) -> Any:
    if hasattr(data, "subset"):
        return data.subset(list(range(n)))
    return MultimodalDataset(get=lambda i: data[i], length=n, groups=_groups(data, n))


def _groups(data: Any, n: int) -> Optional[list[Any]]:
    groups = getattr(data, "groups", None)
    return None if groups is None else list(groups)[:n]


class _Without:
    """Removes modalities from a batch (a batch keeps at least one)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def __call__(self, batch: MultimodalBatch) -> MultimodalBatch:
        present = [m for m in self.names if m in batch.modalities or m in batch.raw]
        keep = len(batch.modalities) + len(batch.raw) - len(present)
        return batch.without(*present) if present and keep > 0 else batch


class _ModalityDropout:
    """A dataset view whose batches drop each modality of each sample with probability ``p`` (never all)."""

    def __init__(self, data: Any, p: float, seed: int) -> None:
        self.data, self.p = data, p
        self.generator = torch.Generator().manual_seed(seed)
        self.groups = getattr(data, "groups", None)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> MultimodalSample:
        return self.data[index]

    def __getitems__(self, indices: Sequence[int]) -> MultimodalBatch:
        return collate([drop_modalities(self.data[int(i)], self.p, self.generator) for i in indices])


def drop_modalities(sample: MultimodalSample, p: float, generator: torch.Generator) -> MultimodalSample:
    """``sample`` without each of its modalities with probability ``p``, keeping at least one."""
    names = sorted(set(sample.modalities) | set(sample.raw))
    drop = [m for m, u in zip(names, torch.rand(len(names), generator=generator).tolist()) if u < p]
    if len(drop) == len(names):
        drop = drop[1:]
    return sample.without(*drop) if drop else sample
