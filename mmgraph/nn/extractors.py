"""Extractors: modules that turn a raw modality (e.g. pixels) into elements (e.g. region features)."""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from mmgraph.data.batch import ModalityBatch
from mmgraph.data.raw import RawModality
from mmgraph.nn.film import FiLM

__all__ = ["GridCNN", "NORMS"]

#: Normalisations of :class:`GridCNN`'s blocks: batch statistics (as in the Relation Network), or
#: per-image statistics (``"group"``: GroupNorm with one group per 4 channels, ``"instance"``), which do
#: not depend on how many images a batch holds.
NORMS = {
    "batch": nn.BatchNorm2d,
    "group": lambda c: nn.GroupNorm(max(1, c // 4), c),
    "instance": lambda c: nn.GroupNorm(c, c),
}


class GridCNN(nn.Module):
    r"""A small CNN that turns images into a grid of region elements with positions.

    As in the Relation Network (Santoro et al., 2017): ``len(channels)`` blocks of
    ``Conv2d(3×3, stride 2, padding 1) → BatchNorm → ReLU``; each cell of the final
    :math:`h \times w` feature map is one region. A region's features are its channels
    followed by the normalised :math:`(x, y)` centre of its cell (the coordinates RN
    appends), and ``pos`` is that centre, so spatial edge strategies work on regions.

    Each distinct image of a batch is encoded once (see :class:`~mmgraph.RawModality`),
    then gathered for every sample that uses it.

    Args:
        in_channels: Image channels.
        channels: Output channels of each block (75×75 images with 4 blocks give a 5×5 grid).
        norm: Normalisation of each block, a key of :data:`NORMS` (``"batch"``: statistics over the
            batch's images; ``"group"``/``"instance"``: per image, whatever the batch holds).

    Shapes:
        - **input:** ``RawModality(data=(K, C, H, W), index=(B,))``; ``uint8`` images are scaled to :math:`[0, 1]`
        - **output:** ``ModalityBatch(x=(B, h*w, channels[-1] + 2), pos=(B, h*w, 2))``
    """

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (24, 24, 24, 24), norm: str = "batch") -> None:
        super().__init__()
        if not channels or any(not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(f"GridCNN: channels must be a non-empty sequence of positive ints, got {channels!r}")
        if norm not in NORMS:
            raise ValueError(f"GridCNN: norm: expected one of {list(NORMS)}, got {norm!r}")
        layers: list[nn.Module] = []
        prev = in_channels
        for c in channels:
            layers += [nn.Conv2d(prev, c, 3, stride=2, padding=1), NORMS[norm](c), nn.ReLU()]
            prev = c
        self.norm = norm
        self.net = nn.Sequential(*layers)
        self.in_channels = in_channels
        self.channels = tuple(channels)
        self.out_dim = channels[-1] + 2

    def reset_parameters(self) -> None:
        for layer in self.net:
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()

    @property
    def modulated_channels(self) -> int:
        """Channels of the last block, which a question can modulate (``forward(raw, modulation=...)``)."""
        return self.channels[-1]

    def forward(self, raw: RawModality, modulation: Optional[tuple[Tensor, Tensor]] = None) -> ModalityBatch:
        """Regions of every sample's image.

        With ``modulation=(gamma, beta)``, each ``(B, channels[-1])``, the last block's normalised
        map is modulated per sample before its ReLU (FiLM: ``(1 + gamma) * h + beta``, see
        :class:`~mmgraph.nn.ModalityFiLM`), so each question sees the image its own way; the
        earlier blocks still run once per image.
        """
        images = raw.data
        if images.dim() != 4 or images.size(1) != self.in_channels:
            raise ValueError(
                f"GridCNN: expected images of shape (K, {self.in_channels}, H, W), got {tuple(images.shape)}"
            )
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        if modulation is None:
            fmap = self.net(images)[raw.index]  # (B, C, h, w)
        else:
            gamma, beta = modulation
            fmap = torch.relu(FiLM.modulate(self.net[:-1](images)[raw.index], gamma, beta, channel_dim=1))
        b, c, h, w = fmap.shape
        ys, xs = torch.meshgrid(
            (torch.arange(h, device=fmap.device, dtype=fmap.dtype) + 0.5) / h,
            (torch.arange(w, device=fmap.device, dtype=fmap.dtype) + 0.5) / w,
            indexing="ij",
        )
        pos = torch.stack([xs, ys], dim=-1).reshape(h * w, 2)  # (L, 2), row-major cells
        regions = fmap.flatten(2).transpose(1, 2)  # (B, L, C)
        x = torch.cat([regions, pos.unsqueeze(0).expand(b, -1, -1)], dim=-1)
        return ModalityBatch(x, pos=pos.unsqueeze(0).expand(b, -1, -1), name="image", check=False)

    def __repr__(self) -> str:
        norm = "" if self.norm == "batch" else f", norm={self.norm!r}"
        return f"{self.__class__.__name__}(in_channels={self.in_channels}, channels={list(self.channels)}{norm})"
