"""The base class of every registered fusion model (graph models and baselines)."""

from __future__ import annotations

from typing import Any, Mapping, Optional, TypedDict

import torch
from torch import Tensor, nn

from mmgraph.data.batch import MultimodalBatch

from mmgraph.nn.encoders import EncoderNorm, ModalityEncoders, check_in_dims, check_norms
from mmgraph.nn.film import ModalityFiLM
from mmgraph.nn.heads import TASKS
from mmgraph.utils.checks import check_positive_int

__all__ = ["FusionModel", "FusionOptions", "check_positive_int", "check_task"]


def check_task(task: str) -> str:
    """Return ``task`` if it is one of :data:`~mmgraph.nn.heads.TASKS`, else raise a ``ValueError``."""
    if task not in TASKS:
        raise ValueError(f"task: expected one of {list(TASKS)}, got {task!r}")
    return task


class FusionOptions(TypedDict, total=False):
    """The options every :class:`FusionModel` takes by keyword (see its ``Args``)."""

    task: str
    dropout: float
    extractors: Optional[Mapping[str, nn.Module]]
    film: Optional[str]
    encoder_norm: EncoderNorm


class FusionModel(nn.Module):
    r"""What every registered model shares: per-modality encoders and the ``model(batch)`` contract.

    Subclasses take their own options by name and pass the common ones on as
    ``**options`` (typed by :class:`FusionOptions`) to ``super().__init__(in_dims, hidden, out_dim,
    **options)``, which validates the arguments and creates :attr:`encoders`
    (:class:`~mmgraph.nn.ModalityEncoders`), then implement ``forward(batch)`` returning
    ``(B, out_dim)``. Because graph models and baselines start from the same encoders,
    comparisons between them differ only in how modalities are fused.

    With ``film="question"`` (any model), the question conditions perception before fusion
    (:class:`~mmgraph.nn.ModalityFiLM`): modulable extractors (e.g. :class:`~mmgraph.nn.GridCNN`)
    modulate their last feature map per sample, and every other modality's encoded elements are
    modulated, by FiLM layers that count in the model's parameters.

    Args:
        in_dims: Feature dimension of each modality, e.g. ``{"text": 384, "image": 512}``.
        hidden: Width :math:`H` of the encoded elements (and, unless a model says otherwise, of
            its hidden layers).
        out_dim: Output width (classes, regression targets or embedding size).
        task: One of ``"classification"``, ``"regression"``, ``"embedding"``.
        dropout: Dropout in the encoders (and, unless a model says otherwise, in its fusion
            layers and head).
        extractors: Optional ``{modality: module}`` turning raw inputs into elements
            (e.g. :class:`~mmgraph.nn.GridCNN` for pixels); see :meth:`prepare`.
        film: A modality (e.g. ``"question"``) that conditions the others before fusion, FiLM
            in modulable extractors and on encoded elements (:class:`~mmgraph.nn.ModalityFiLM`).
        encoder_norm: The encoders' normalisation, ``"layer"`` (default) or ``None``, for every
            modality or as ``{modality: norm}`` (``norm`` of :class:`~mmgraph.nn.ModalityEncoders`).

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` whose modalities are a subset of ``in_dims``
        - **encoded** (:meth:`encode`): ``{name: (B, L_name, hidden)}``
        - **output:** :math:`(B, \text{out\_dim})`

    Attributes:
        encoders: The per-modality encoders.
        film: The :class:`~mmgraph.nn.ModalityFiLM` (``None`` without ``film=``).
        names: Modality names (sorted).
        hidden, out_dim, task, dropout_rate: As given.
    """

    def __init__(
        self,
        in_dims: Mapping[str, int],
        hidden: int,
        out_dim: int,
        *,
        task: str = "classification",
        dropout: float = 0.0,
        extractors: Optional[Mapping[str, nn.Module]] = None,
        film: Optional[str] = None,
        encoder_norm: EncoderNorm = "layer",
    ) -> None:
        super().__init__()
        self.hidden = check_positive_int(hidden, "hidden")
        self.out_dim = check_positive_int(out_dim, "out_dim")
        self.task = check_task(task)
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        self.dropout_rate = float(dropout)
        check_norms(encoder_norm, list(check_in_dims(in_dims)), arg="encoder_norm")
        self.encoders = ModalityEncoders(in_dims, hidden, dropout, norm=encoder_norm)
        self.names: list[str] = list(self.encoders.in_dims)
        extractors = dict(extractors or {})
        for name, extractor in extractors.items():
            if name not in self.encoders.in_dims:
                raise ValueError(f"extractors: modality {name!r} is not in in_dims {self.names}")
            if not isinstance(extractor, nn.Module):
                raise ValueError(f"extractors[{name!r}]: expected an nn.Module, got {type(extractor).__name__}")
            out_dim_ = getattr(extractor, "out_dim", None)
            if out_dim_ is not None and out_dim_ != self.encoders.in_dims[name]:
                raise ValueError(
                    f"extractors[{name!r}] produces features of dimension {out_dim_}, "
                    f"but in_dims[{name!r}] = {self.encoders.in_dims[name]}"
                )
        self.extractors = nn.ModuleDict(extractors)
        self.film: Optional[ModalityFiLM] = None
        if film is not None:
            channels = {n: int(e.modulated_channels) for n, e in extractors.items() if hasattr(e, "modulated_channels")}
            self.film = ModalityFiLM(film, self.encoders.in_dims, hidden, channels)

    def prepare(self, batch: MultimodalBatch) -> MultimodalBatch:
        """Cast the batch to the model's dtype, run the extractors on its raw inputs (e.g. pixels → regions)."""
        if not isinstance(batch, MultimodalBatch):
            raise ValueError(
                f"expected a MultimodalBatch (use mmgraph.collate([...]) to make one), got {type(batch).__name__}"
            )
        dtype = self._dtype()
        if dtype is not None:
            batch = batch.cast(dtype)  # features of any floating dtype work with a model of any dtype
        if not batch.raw:
            return batch
        missing = [name for name in batch.raw if name not in self.extractors]
        if missing:
            raise ValueError(
                f"raw modalities {missing} need an extractor: build the model with extractors={{name: module}} "
                f"(this model has extractors for {sorted(self.extractors)})"
            )
        film = self.film
        if film is None or not film.extractors:
            return batch.with_modalities({name: self.extractors[name](raw) for name, raw in batch.raw.items()})
        context = film.context(batch)
        out = {}
        for name, raw in batch.raw.items():
            modulation = film.extractors[name].coefficients(context) if name in film.extractors else None
            out[name] = self.extractors[name](raw) if modulation is None else self.extractors[name](raw, modulation)
        return batch.with_modalities(out)

    def _dtype(self) -> Optional[torch.dtype]:
        """The dtype of the model's floating parameters (``None`` if it has none)."""
        for p in self.parameters():
            if p.is_floating_point():
                return p.dtype
        return None

    def encode(self, batch: MultimodalBatch) -> tuple[MultimodalBatch, dict[str, Tensor]]:
        """``prepare`` the batch, validate it and encode every element: ``(batch, {name: (B, L, hidden)})``.

        With ``film``, every other modality's elements are modulated by the context modality
        (before their encoder's activation, see :meth:`~mmgraph.nn.ModalityEncoders.encode`).
        """
        batch = self.prepare(batch)
        if self.film is None:
            return batch, self.encoders(batch)
        context = self.film.context(batch)
        modulation = {n: f.coefficients(context) for n, f in self.film.elements.items() if n in batch.modalities}
        return batch, self.encoders(batch, modulation)

    def reset_encoders(self) -> None:
        """Re-initialise what every model has: the encoders and the FiLM layers (identity modulation).

        Subclasses' ``reset_parameters`` call it, then reset their own layers.
        """
        self.encoders.reset_parameters()
        self.reset_film()

    def reset_film(self) -> None:
        """Re-initialise the FiLM layers (identity modulation)."""
        if self.film is not None:
            self.film.reset_parameters()

    @property
    def in_dims(self) -> dict[str, int]:
        """Feature dimension per modality."""
        return dict(self.encoders.in_dims)

    def num_parameters(self, trainable_only: bool = True) -> int:
        """Number of (trainable) parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def _repr_extra(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        parts = [f"in_dims={self.in_dims}", f"hidden={self.hidden}", f"out_dim={self.out_dim}", f"task={self.task!r}"]
        parts += [f"{k}={v!r}" for k, v in self._repr_extra().items()]
        return f"{self.__class__.__name__}({', '.join(parts)})"
