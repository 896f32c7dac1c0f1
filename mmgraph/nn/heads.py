"""Task heads on a pooled representation: classification, regression, embedding."""

from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MLP", "ClassificationHead", "RegressionHead", "EmbeddingHead", "make_head", "TASKS"]

#: Tasks a registered model can be built for (``task=`` argument of :func:`mmgraph.get_model`).
TASKS = ("classification", "regression", "embedding")


class MLP(nn.Sequential):
    r"""``Linear → GELU → Dropout`` blocks ending in a plain ``Linear``.

    Args:
        in_dim: Input width.
        hidden: Width of the hidden layers.
        out_dim: Output width.
        num_layers: Number of ``Linear`` layers (``1`` is a single linear map).
        dropout: Dropout after every hidden activation.
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, num_layers: int = 2, dropout: float = 0.0) -> None:
        if num_layers < 1:
            raise ValueError(f"num_layers: expected >= 1, got {num_layers}")
        layers: list[nn.Module] = []
        dims = [in_dim] + [hidden] * (num_layers - 1) + [out_dim]
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < num_layers - 1:
                layers += [nn.GELU(), nn.Dropout(dropout)]
        super().__init__(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim

    def reset_parameters(self) -> None:
        for layer in self:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()


class ClassificationHead(nn.Module):
    r"""Logits :math:`\mathrm{MLP}(z) \in \mathbb{R}^{C}` for ``C = out_dim`` classes (use with cross-entropy).

    Args:
        in_dim: Width of the pooled representation.
        out_dim: Number of outputs.
        hidden: Width of the MLP's hidden layers (default ``in_dim``).
        dropout: Dropout after hidden activations.
        num_layers: Depth of the MLP (``1``: a linear map).

    Shapes:
        - **input:** :math:`(B, F)` → **output:** :math:`(B, C)`
    """

    def __init__(
        self, in_dim: int, out_dim: int, hidden: Optional[int] = None, dropout: float = 0.0, num_layers: int = 2
    ) -> None:
        super().__init__()
        self.mlp = MLP(in_dim, hidden or in_dim, out_dim, num_layers=num_layers, dropout=dropout)

    def reset_parameters(self) -> None:
        self.mlp.reset_parameters()

    def forward(self, z: Tensor) -> Tensor:
        return self.mlp(z)


class RegressionHead(ClassificationHead):
    r"""Real-valued outputs :math:`\mathrm{MLP}(z) \in \mathbb{R}^{T}` (e.g. a sentiment score; use with L1/MSE).

    Shapes:
        - **input:** :math:`(B, F)` → **output:** :math:`(B, T)`
    """


class EmbeddingHead(ClassificationHead):
    r"""L2-normalised embedding :math:`\mathrm{MLP}(z) / \lVert \mathrm{MLP}(z) \rVert` for retrieval (cosine = dot product).

    Shapes:
        - **input:** :math:`(B, F)` → **output:** :math:`(B, E)`, unit norm
    """

    def forward(self, z: Tensor) -> Tensor:
        return F.normalize(self.mlp(z), dim=-1)


def make_head(
    task: str, in_dim: int, out_dim: int, hidden: Optional[int] = None, dropout: float = 0.0, num_layers: int = 2
) -> nn.Module:
    """Build the head for ``task`` (one of :data:`TASKS`) with an MLP of ``num_layers`` layers."""
    heads = {"classification": ClassificationHead, "regression": RegressionHead, "embedding": EmbeddingHead}
    if task not in heads:
        raise ValueError(f"task: expected one of {list(TASKS)}, got {task!r}")
    if not isinstance(out_dim, int) or out_dim < 1:
        raise ValueError(f"out_dim: expected a positive int, got {out_dim!r}")
    return heads[task](in_dim, out_dim, hidden=hidden, dropout=dropout, num_layers=num_layers)
