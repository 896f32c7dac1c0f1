"""Sentences into token modalities: a word-level :class:`Vocabulary`."""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence, Union

import torch

from mmgraph.data.modality import Modality

__all__ = ["Vocabulary", "tokenize"]

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[^\w\s]", re.UNICODE)


def tokenize(text: str, lower: bool = True) -> list[str]:
    """Split ``text`` into words and punctuation marks (``"What's left?"`` → ``["what's", "left", "?"]``)."""
    if not isinstance(text, str):
        raise ValueError(f"tokenize: expected a str, got {type(text).__name__}")
    return _WORD.findall(text.lower() if lower else text)


class Vocabulary:
    r"""A word-level vocabulary that turns sentences into token modalities.

    :meth:`encode` gives each sentence as a :class:`~mmgraph.Modality` with one element per
    word: its one-hot vector over the vocabulary, with the words as ``labels`` (shown by the
    visualisations). A model's per-modality linear encoder on one-hot vectors *is* a learned
    word embedding, so nothing else is needed to learn them. Words not in the vocabulary map to
    ``unknown``. The pretrained alternative, :class:`mmgraph.features.MiniLMTokens` (``text``
    extra), has the same interface (``dim`` and ``encode(texts)``), so either can be used.

    Args:
        words: The vocabulary (``unknown`` is added first if missing).
        unknown: The token of out-of-vocabulary words.
        lower: Lower-case sentences before splitting them.

    Example:
        >>> import mmgraph as mg
        >>> vocab = mg.data.Vocabulary.build(["What colour is the square?", "Is the circle left?"])
        >>> m = vocab("what colour is the circle?")
        >>> m.x.shape, m.labels[:3]
        (torch.Size([6, 9]), ['what', 'colour', 'is'])
    """

    def __init__(self, words: Sequence[str], unknown: str = "<unk>", lower: bool = True) -> None:
        words = list(words)
        if any(not isinstance(w, str) or not w for w in words):
            raise ValueError("Vocabulary: words: expected non-empty strings")
        if len(set(words)) != len(words):
            dup = sorted(w for w, c in Counter(words).items() if c > 1)[:5]
            raise ValueError(f"Vocabulary: words: expected distinct words, got repeats {dup}")
        self.words = [unknown] + [w for w in words if w != unknown] if unknown not in words else words
        self.unknown, self.lower = unknown, lower
        self._index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, unknown: str = "<unk>", lower: bool = True) -> "Vocabulary":
        """The vocabulary of ``texts``: every word seen at least ``min_count`` times, sorted."""
        counts = Counter(w for t in texts for w in tokenize(t, lower))
        if not counts:
            raise ValueError("Vocabulary.build: expected at least one word in texts, got none")
        return cls(sorted(w for w, c in counts.items() if c >= min_count), unknown=unknown, lower=lower)

    @property
    def dim(self) -> int:
        """Feature width of the encoded tokens (the vocabulary size)."""
        return len(self.words)

    def __len__(self) -> int:
        return len(self.words)

    def index(self, word: str) -> int:
        """The id of ``word`` (the id of ``unknown`` when it is not in the vocabulary)."""
        return self._index.get(word, self._index[self.unknown])

    def ids(self, text: str) -> torch.Tensor:
        """The word ids of ``text``, ``(L,)`` int64."""
        return torch.tensor([self.index(w) for w in tokenize(text, self.lower)], dtype=torch.long)

    def encode(self, texts: Sequence[str]) -> list[Modality]:
        """Each sentence as a token modality: one-hot ``(L, dim)`` features with the words as labels."""
        if isinstance(texts, str):
            raise ValueError("Vocabulary.encode: expected a sequence of sentences, got one str (use vocab(text))")
        return [self._one(t) for t in texts]

    def _one(self, text: str) -> Modality:
        words = tokenize(text, self.lower)
        if not words:
            raise ValueError(f"Vocabulary: expected at least one word, got {text!r}")
        ids = torch.tensor([self.index(w) for w in words], dtype=torch.long)
        return Modality(torch.nn.functional.one_hot(ids, self.dim).to(torch.get_default_dtype()), labels=words)

    def __call__(self, text: Union[str, Sequence[str]]) -> Union[Modality, list[Modality]]:
        """``vocab("a sentence")`` → one modality; ``vocab([...])`` → a list (as :meth:`encode`)."""
        return self._one(text) if isinstance(text, str) else self.encode(text)

    def __repr__(self) -> str:
        return f"Vocabulary({self.dim} words)"


