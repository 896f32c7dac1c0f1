"""Captioning metrics: corpus BLEU-4 (NLTK) and relation exact-match."""

from __future__ import annotations

from typing import Any, Callable, Sequence

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


#: ``is_true(caption, scene) -> bool``: whether everything a caption states holds in its scene.
CaptionCheck = Callable[[str, Any], bool]


def relation_em(hypotheses: Sequence[str], scenes: Sequence[Any], is_true: CaptionCheck) -> float:
    """Fraction of captions whose every statement holds in their scene (``is_true``).

    What a statement is and when it holds belongs to the dataset: e.g. for the synthetic
    Sort-of-CLEVR captions, ``lambda text, scene: caption_is_true(text, *scene)``
    (:func:`~mmgraph.datasets.captions.caption_is_true`: both objects named with their true
    shapes, the relation true).

    Args:
        hypotheses: One generated caption per scene.
        scenes: Each caption's scene, in whatever form ``is_true`` takes.
        is_true: The dataset's check of one caption against its scene.
    """
    if len(hypotheses) != len(scenes) or not hypotheses:
        raise ValueError(f"expected one scene per caption, got {len(hypotheses)} captions and {len(scenes)} scenes")
    return sum(bool(is_true(h, scene)) for h, scene in zip(hypotheses, scenes)) / len(hypotheses)


def caption_metrics(hypotheses: Sequence[str], references: Sequence[Sequence[str]], scenes: Sequence[Any],
                    is_true: CaptionCheck) -> dict[str, float]:
    """``{"bleu4": ..., "relation_em": ...}`` (see :func:`bleu4` and :func:`relation_em`)."""
    return {"bleu4": bleu4(hypotheses, references), "relation_em": relation_em(hypotheses, scenes, is_true)}
