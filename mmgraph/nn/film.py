"""Feature-wise linear modulation (FiLM): a context modality conditions the others' features."""

from __future__ import annotations

from typing import Mapping, Optional

import torch
from torch import Tensor, nn

from mmgraph.data.batch import MultimodalBatch
from mmgraph.nn.encoders import masked_mean

__all__ = ["FiLM", "ModalityFiLM"]


class FiLM(nn.Module):
    r"""Feature-wise linear modulation (Perez et al., AAAI 2018) of features by a context vector.

    .. math::

        [\gamma; \beta] = W_2\,\mathrm{ReLU}(W_1 c + b_1) + b_2, \qquad
        h' = (1 + \gamma) \odot h + \beta

    :math:`W_2, b_2` start at zero, so a new FiLM layer is the identity and conditioning is
    learned from there.

    Args:
        context_dim: Width :math:`D` of the context :math:`c`.
        channels: Number :math:`C` of modulated channels.
        hidden: Width of the generator's hidden layer (default: ``channels``).

    Shapes:
        - **context:** :math:`(B, D)` → ``coefficients``: :math:`\gamma, \beta` of shape :math:`(B, C)`
        - **h:** :math:`(B, \ldots, C)` (channels last) or, with ``channel_dim=1``, :math:`(B, C, \ldots)`
    """

    def __init__(self, context_dim: int, channels: int, hidden: Optional[int] = None) -> None:
        super().__init__()
        self.context_dim, self.channels = context_dim, channels
        width = hidden or channels
        self.generator = nn.Sequential(nn.Linear(context_dim, width), nn.ReLU(), nn.Linear(width, 2 * channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.generator[0].reset_parameters()
        nn.init.zeros_(self.generator[2].weight)
        nn.init.zeros_(self.generator[2].bias)

    def coefficients(self, context: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`(\gamma, \beta)`, each :math:`(B, C)`."""
        gamma, beta = self.generator(context).chunk(2, dim=-1)
        return gamma, beta

    @staticmethod
    def modulate(h: Tensor, gamma: Tensor, beta: Tensor, channel_dim: int = -1) -> Tensor:
        r""":math:`(1 + \gamma) \odot h + \beta`, broadcasting :math:`(B, C)` over ``h``'s other dimensions."""
        shape = [1] * h.dim()
        shape[0], shape[channel_dim] = gamma.size(0), gamma.size(1)
        return h * (1 + gamma.reshape(shape)) + beta.reshape(shape)

    def forward(self, h: Tensor, context: Tensor, channel_dim: int = -1) -> Tensor:
        return self.modulate(h, *self.coefficients(context), channel_dim=channel_dim)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.context_dim}, {self.channels})"


class ModalityFiLM(nn.Module):
    r"""One modality (e.g. the question) modulates every other modality of a model, before fusion.

    The context :math:`c` is the masked mean of the ``source`` modality's input features (zeros
    for a sample without it). A :class:`FiLM` per other modality modulates its elements in their
    encoder, before the activation (:meth:`~mmgraph.nn.ModalityEncoders.encode`),
    and one per *modulable extractor* (an extractor with ``modulated_channels``, such as
    :class:`~mmgraph.nn.GridCNN`) modulates the extractor's last feature map, so that perception
    itself depends on the question. Every model takes this as ``film="question"``, so
    conditioned and unconditioned models of any kind can be compared with the same parameter
    accounting (these layers count in the model's parameters).

    Args:
        source: The conditioning modality.
        in_dims: The model's modalities and input widths.
        hidden: The width of the encoded elements.
        extractor_channels: ``{modality: channels}`` of the modulable extractors.
    """

    def __init__(self, source: str, in_dims: Mapping[str, int], hidden: int,
                 extractor_channels: Optional[Mapping[str, int]] = None) -> None:
        super().__init__()
        if source not in in_dims:
            raise ValueError(f"film: expected one of the modalities {sorted(in_dims)}, got {source!r}")
        if len(in_dims) < 2:
            raise ValueError(f"film: a modality can condition the others only with 2+ modalities, got {sorted(in_dims)}")
        self.source, self.context_dim = source, in_dims[source]
        self.elements = nn.ModuleDict({m: FiLM(self.context_dim, hidden) for m in sorted(in_dims) if m != source})
        self.extractors = nn.ModuleDict({m: FiLM(self.context_dim, c) for m, c in sorted((extractor_channels or {}).items())})

    def reset_parameters(self) -> None:
        for film in list(self.elements.values()) + list(self.extractors.values()):
            film.reset_parameters()

    def context(self, batch: MultimodalBatch) -> Tensor:
        """:math:`c`, ``(B, D)``: the masked mean of the source modality's features."""
        if self.source in batch.modalities:
            m = batch[self.source]
            return masked_mean(m.x, m.mask)
        ref = next(self.parameters())
        return torch.zeros(batch.batch_size, self.context_dim, dtype=ref.dtype, device=batch.device)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(source={self.source!r}, targets={list(self.elements)}, " \
               f"extractors={list(self.extractors)})"
