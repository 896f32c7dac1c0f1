"""Captioning metrics: corpus BLEU-4 (NLTK) and relation exact-match."""

from __future__ import annotations

from typing import Any, Sequence

from mmgraph.datasets.captions import caption_is_true

__all__ = ["bleu4", "relation_em", "caption_metrics"]


def bleu4(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU-4 (uniform 1-4-gram weights, NLTK's ``corpus_bleu``) of captions against their references.

    Args:
        hypotheses: One generated caption per image.
        references: The reference captions of each image (several allowed).
    """
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu  # imported on first use (slow import)

    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"expected one non-empty list of references per hypothesis, got {len(hypotheses)} "
                         f"hypotheses and {len(references)} reference lists")
    hyp = [h.replace(";", " ;").split() for h in hypotheses]
    refs = [[r.replace(";", " ;").split() for r in rs] for rs in references]
    if any(not rs for rs in refs):
        raise ValueError("references: every image needs at least one reference caption")
    return float(corpus_bleu(refs, hyp, smoothing_function=SmoothingFunction().method1))


def relation_em(hypotheses: Sequence[str], scenes: Sequence[tuple[Any, Any]]) -> float:
    """Fraction of captions whose described relations all exactly match their scene.

    A caption scores 1 when it parses into statements (``the <colour> <shape> <relation> the
    <colour> <shape>``, joined by ``;``) and every statement holds in its scene: both objects
    named with their true shapes, the relation true (:func:`~mmgraph.datasets.captions.caption_is_true`).

    Args:
        hypotheses: One generated caption per scene.
        scenes: ``(shapes, positions)`` of each scene.
    """
    if len(hypotheses) != len(scenes) or not hypotheses:
        raise ValueError(f"expected one scene per caption, got {len(hypotheses)} captions and {len(scenes)} scenes")
    return sum(caption_is_true(h, s, p) for h, (s, p) in zip(hypotheses, scenes)) / len(hypotheses)


def caption_metrics(hypotheses: Sequence[str], references: Sequence[Sequence[str]],
                    scenes: Sequence[tuple[Any, Any]]) -> dict[str, float]:
    """``{"bleu4": ..., "relation_em": ...}``."""
    return {"bleu4": bleu4(hypotheses, references), "relation_em": relation_em(hypotheses, scenes)}
