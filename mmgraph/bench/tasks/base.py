"""What a benchmark task provides to the runner."""

from __future__ import annotations

import copy

from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Optional

import torch
from torch import Tensor, nn

from mmgraph.data.batch import MultimodalBatch

__all__ = ["BenchTask", "Batches", "Example", "FULL_SETTINGS", "QUICK_SETTINGS"]

#: Defaults of a full run, unless the task overrides them (:attr:`BenchTask.full_settings`).
FULL_SETTINGS: dict[str, Any] = {
    "epochs": 20, "seeds": 3, "lrs": (3e-4, 1e-3, 3e-3), "sweep_epochs": 3, "hidden": 64, "batch_size": 64,
    "scheduler": "cosine",
}
#: ``--quick``: a smoke run of the whole pipeline in about two minutes on 2 cores (small data,
#: narrow models, one learning rate instead of the sweep). Its figures are not results.
QUICK_SETTINGS: dict[str, Any] = {"epochs": 3, "seeds": 2, "lrs": (3e-3,), "sweep_epochs": 1, "hidden": 32, "batch_size": 128,
                                  "scheduler": "cosine"}


class Batches:
    """Re-iterable batches over groups of consecutive sample indices.

    Sample indices form ``num_groups`` groups of ``group_size`` consecutive indices (e.g.
    the 20 questions of one image); every epoch the groups are shuffled (with this
    object's own generator, so runs are reproducible) and ``groups_per_batch`` of them
    make one batch, built by ``make(indices)``.
    """

    def __init__(
        self,
        make: Callable[[Tensor], MultimodalBatch],
        num_groups: int,
        group_size: int,
        groups_per_batch: int,
        shuffle: bool,
        seed: int = 0,
    ) -> None:
        self.make, self.num_groups, self.group_size = make, num_groups, group_size
        self.groups_per_batch, self.shuffle = max(1, groups_per_batch), shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return (self.num_groups + self.groups_per_batch - 1) // self.groups_per_batch

    def __iter__(self) -> Iterator[MultimodalBatch]:
        if self.shuffle:
            order = torch.randperm(self.num_groups, generator=self.generator)
        else:
            order = torch.arange(self.num_groups)
        offsets = torch.arange(self.group_size)
        for chunk in order.split(self.groups_per_batch):
            yield self.make((chunk.unsqueeze(1) * self.group_size + offsets).reshape(-1))


class Example(NamedTuple):
    """One test sample of a task, with what a picture of it needs (:meth:`BenchTask.example`).

    Attributes:
        batch: A batch holding just this sample.
        labels: ``{modality: [label per element]}`` (words, object names) where known.
        image: The sample's image (``(3, H, W)``) to draw spatial nodes over, if any.
        title: A one-line description (question, words, ...).
        truth: The ground-truth answer, readable.
        heatmap: ``(src, dst, rollout)``: the cross-modal attention worth showing, and whether it
            needs :func:`~mmgraph.viz.attention_rollout` (no direct edges between the two).
    """

    batch: MultimodalBatch
    labels: dict[str, list[str]]
    image: Optional[Tensor]
    title: str
    truth: str
    heatmap: tuple[str, str, bool]


class BenchTask:
    """A benchmark task: data, the models' shared inputs, and its metrics.

    Every model of a run gets the same data, the same ``in_dims``, the same extractors
    (a fresh copy each) and, for graph models, the same graph builder; only the fusion
    differs. Subclasses implement the methods below.

    Attributes:
        name: Task name used by ``mmgraph bench`` and in ``results.json``.
        task: ``"classification"`` or ``"regression"`` (selects loss and head).
        out_dim: Number of model outputs.
        monitor, mode: Validation metric used for model selection and the lr sweep.
        metric_names: Test metrics reported in ``results.json``.
        default_models: Models run when ``--models`` is not given.
        full_settings: The task's defaults for a full run (``epochs``, ``seeds``, ``lrs``,
            ``sweep_epochs``, ``hidden``, ``batch_size``, ``scheduler``), over :data:`FULL_SETTINGS`.
        quick_settings: The same for ``--quick``, over :data:`QUICK_SETTINGS`.
        plateau: ``{test metric: threshold}`` beyond which a run has left the task's plateau
            (``None``: not defined); reports count the seeds that did (see :class:`~mmgraph.bench.Task`).
    """

    name: str = ""
    task: str = "classification"
    out_dim: int = 1
    monitor: str = "acc"
    mode: str = "max"
    metric_names: tuple[str, ...] = ()
    default_models: tuple[str, ...] = ()
    full_settings: dict[str, Any] = {}
    quick_settings: dict[str, Any] = {}
    plateau: Optional[dict[str, float]] = None
    #: The registry family of the task's models (see :func:`mmgraph.list_models`).
    family: str = "fusion"

    def for_model(self, name: str, seed: int = 0, out_dir: Optional[Path] = None) -> "BenchTask":
        """This task as model ``name`` (run ``seed``, results in ``out_dir``) sees it: a shallow copy
        (sharing the data) on which :meth:`use` was called, so the task itself does not change and
        the order of calls does not matter. The runner gives every run and sweep its own view."""
        view = copy.copy(self)
        view.use(name, seed, out_dir)
        return view

    def use(self, name: str, seed: int = 0, out_dir: Optional[Path] = None) -> None:
        """Serve model ``name`` (run ``seed``, results in ``out_dir``) in the calls that follow, in place
        (:meth:`for_model` gives a configured copy instead).

        Tasks whose models train or are scored differently (retrieval, captioning) switch their
        batches, loss, metrics and ``monitor``/``mode`` here; by default nothing changes.
        """

    def loss_fn(self) -> Optional[Callable[[Any, Tensor], Tensor]]:
        """The training loss of the current model (``None``: :func:`~mmgraph.train.fit`'s default)."""
        return None

    def val_metrics(self) -> Optional[Callable[[Tensor, Tensor], dict[str, float]]]:
        """The validation metrics of the current model (``None``: :func:`~mmgraph.train.fit`'s default)."""
        return None

    def after_fit(self, name: str, seed: int, model: nn.Module, best_val: dict[str, float], hidden: int) -> None:
        """Called with every trained model before it is tested (e.g. to keep a first stage for later models)."""

    def settings(self, quick: bool) -> dict[str, Any]:
        """Default run settings: :data:`QUICK_SETTINGS`/:data:`FULL_SETTINGS` updated by the task's own."""
        base = QUICK_SETTINGS if quick else FULL_SETTINGS
        return {**base, **(self.quick_settings if quick else self.full_settings)}

    def load(self, quick: bool, seed: int = 0) -> None:
        """Generate the train/val/test splits (deterministic under ``seed``)."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The task's settings, recorded in ``results.json``."""
        raise NotImplementedError

    def in_dims(self) -> dict[str, int]:
        raise NotImplementedError

    def model_kwargs(self, name: str, hidden: int) -> dict[str, Any]:
        """Options model ``name`` of width ``hidden`` gets: builder, extractors, ...

        An ``"in_dims"`` entry updates :meth:`in_dims` for this model (e.g. when its
        extractor outputs another width).
        """
        raise NotImplementedError

    def batches(self, split: str, batch_size: int, shuffle: bool, seed: int = 0) -> Batches:
        """A re-iterable sequence of batches of ``split`` (``"train"``, ``"val"``, ``"test"``)."""
        raise NotImplementedError

    def num_samples(self, split: str) -> int:
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str, batch_size: int) -> dict[str, float]:
        """All test metrics of ``model`` on ``split`` (eval mode)."""
        raise NotImplementedError

    def example(self, split: str, index: int) -> Example:
        """Sample ``index`` of ``split`` with its labels and image, for pictures (``mmgraph viz``)."""
        raise NotImplementedError

    def describe(self, output: Tensor) -> str:
        """A model's output for one sample, readable (an answer, a score)."""
        raise NotImplementedError

    def _check_index(self, split: str, index: int) -> int:
        n = self.num_samples(split)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
            raise ValueError(f"sample: expected an index in [0, {n}) of the {split!r} split, got {index!r}")
        return index
