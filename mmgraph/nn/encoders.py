"""Per-modality element encoders shared by graph models and baselines, and masked pooling."""

from __future__ import annotations

from typing import Mapping, Optional, Union

import torch
from torch import Tensor, nn

from mmgraph.data.batch import MultimodalBatch

__all__ = ["ENCODER_NORMS", "EncoderNorm", "ModalityEncoders", "check_in_dims", "check_norms", "masked_mean"]

#: Normalisations of an element encoder: ``"layer"`` (LayerNorm over each element's channels) or
#: ``None`` (none: an element keeps its magnitude, e.g. how strongly a CNN region responds).
ENCODER_NORMS = ("layer", None)

#: One normalisation for every modality, or ``{modality: norm}`` (modalities left out: ``"layer"``).
EncoderNorm = Union[Optional[str], Mapping[str, Optional[str]]]


def check_in_dims(in_dims: Mapping[str, int]) -> dict[str, int]:
    """Validate a ``{modality: feature_dim}`` mapping and return it sorted by name."""
    from mmgraph.data.sample import check_modality_name

    if not isinstance(in_dims, Mapping) or not in_dims:
        raise ValueError(f"in_dims: expected a non-empty mapping {{modality: feature_dim}}, got {in_dims!r}")
    out: dict[str, int] = {}
    for name in sorted(in_dims):
        check_modality_name(name)
        dim = in_dims[name]
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"in_dims[{name!r}]: expected a positive int, got {dim!r}")
        out[name] = dim
    return out


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    r"""Mean over the real elements of each sample; zeros for a sample with none.

    Shapes:
        - **x:** :math:`(B, L, H)`, **mask:** :math:`(B, L)` → :math:`(B, H)`
    """
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def check_norms(norm: EncoderNorm, names: list[str], arg: str = "norm") -> dict[str, Optional[str]]:
    """``{modality: norm}`` for every name, from one norm or a partial mapping (validated; errors name ``arg``)."""
    given = dict(norm) if isinstance(norm, Mapping) else {n: norm for n in names}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError(f"{arg}: modalities {unknown} are not in in_dims {names}")
    for name, value in given.items():
        if value not in ENCODER_NORMS:
            raise ValueError(f"{arg}[{name!r}]: expected one of {list(ENCODER_NORMS)}, got {value!r}")
    return {n: given.get(n, "layer") for n in names}


class ModalityEncoders(nn.Module):
    r"""Project each modality's element features to a shared width ``hidden``.

    For every modality :math:`m`: :math:`h = \mathrm{Dropout}(\mathrm{GELU}(\mathrm{LayerNorm}(x W_m + b_m)))`,
    applied to every element independently. Every registered model (graph or baseline)
    starts with this module, so comparisons differ only in how modalities are fused.

    Args:
        in_dims: Feature dimension of each modality, e.g. ``{"text": 384, "image": 512}``.
        hidden: Output width.
        dropout: Dropout probability after the activation.
        norm: ``"layer"`` (default) or ``None`` for every modality, or ``{modality: norm}``
            (others ``"layer"``). Without LayerNorm an element keeps its magnitude: CNN
            regions from pixels learn faster that way (``docs/pixels.md``).

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` whose modalities are a subset of
          ``in_dims`` with matching feature dimensions
        - **output:** ``{name: (B, L_name, hidden)}`` for the modalities in the batch
    """

    def __init__(self, in_dims: Mapping[str, int], hidden: int, dropout: float = 0.0,
                 norm: EncoderNorm = "layer") -> None:
        super().__init__()
        self.in_dims = check_in_dims(in_dims)
        if not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden: expected a positive int, got {hidden!r}")
        self.hidden = hidden
        self.norms = check_norms(norm, list(self.in_dims))
        self.proj = nn.ModuleDict(
            {
                name: nn.Sequential(nn.Linear(dim, hidden),
                                    nn.LayerNorm(hidden) if self.norms[name] == "layer" else nn.Identity(), nn.GELU(),
                                    nn.Dropout(dropout) if dropout else nn.Identity())
                for name, dim in self.in_dims.items()
            }
        )

    def reset_parameters(self) -> None:
        for seq in self.proj.values():
            for layer in seq:
                if hasattr(layer, "reset_parameters"):
                    layer.reset_parameters()

    def check(self, batch: MultimodalBatch) -> None:
        """Raise a ``ValueError`` for an unknown modality or a feature dimension that differs from ``in_dims``."""
        if not isinstance(batch, MultimodalBatch):
            raise ValueError(
                f"expected a MultimodalBatch (use mmgraph.collate([...]) to make one), got {type(batch).__name__}"
            )
        for name in batch.modalities:
            if name not in self.in_dims:
                raise ValueError(
                    f"unknown modality {name!r}: this model was built for in_dims {sorted(self.in_dims)}"
                )
            got = batch[name].feature_dim
            if got != self.in_dims[name]:
                raise ValueError(
                    f"modality {name!r}: expected feature_dim {self.in_dims[name]} (in_dims), got {got}"
                )

    def encode(self, name: str, x: Tensor, modulation: Optional[tuple[Tensor, Tensor]] = None) -> Tensor:
        r"""Encode raw features ``x`` of shape ``(N, ..., in_dims[name])`` of one modality.

        With ``modulation=(gamma, beta)``, each ``(N, hidden)``, the normalised pre-activation is
        modulated before the GELU (FiLM, as after batch norm in Perez et al.):
        :math:`\mathrm{GELU}((1 + \gamma) \odot \mathrm{LN}(x W + b) + \beta)`, so a context can
        switch elements on and off (without :math:`\mathrm{LN}` where ``norm`` is ``None``).
        """
        proj = self.proj[name]
        if modulation is None:
            return proj(x)
        gamma, beta = modulation
        h = proj[1](proj[0](x))
        shape = (h.size(0),) + (1,) * (h.dim() - 2) + (h.size(-1),)
        return proj[3](proj[2](h * (1 + gamma.reshape(shape)) + beta.reshape(shape)))

    def forward(self, batch: MultimodalBatch,
                modulation: Optional[Mapping[str, tuple[Tensor, Tensor]]] = None) -> dict[str, Tensor]:
        """``{name: (B, L, hidden)}``; ``modulation``: optional ``{name: (gamma, beta)}``, each ``(B, hidden)``."""
        self.check(batch)
        modulation = modulation or {}
        return {name: self.encode(name, batch[name].x, modulation.get(name)) for name in batch.modalities}

    def __repr__(self) -> str:
        plain = sorted(n for n, v in self.norms.items() if v is None)
        norm = f", norm={{{', '.join(f'{n!r}: None' for n in plain)}}}" if plain else ""
        return f"{self.__class__.__name__}({self.in_dims}, hidden={self.hidden}{norm})"
