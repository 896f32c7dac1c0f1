"""Clause-by-clause matching: split a text into its statements and score each against the image."""

from __future__ import annotations

from typing import Collection, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.data.batch import ModalityBatch, MultimodalBatch

__all__ = ["split_clauses", "ClauseReranker"]


def split_clauses(text: ModalityBatch, separator: str = ";", positions: int = 0,
                  name: str = "text") -> tuple[ModalityBatch, Tensor]:
    r"""Split every sample of a text modality into clauses at its separator elements.

    An element whose label (``text.labels``: each element's text, e.g. a word) equals
    ``separator`` ends a clause and is dropped; empty clauses are dropped too. Clause
    :math:`p` keeps its elements in order (features, ``pos``, ``time`` and labels), left-aligned.

    Args:
        text: The text modality, with ``labels``.
        separator: The label that separates clauses.
        positions: If ``> 0``, a one-hot of each element's index within its clause
            (``positions`` columns) is appended to its features.
        name: The modality's name, for error messages.

    Returns:
        ``(clauses, owner)``: a :class:`~mmgraph.ModalityBatch` of :math:`P` clauses and the
        sample each comes from, ``(P,)`` (sorted: a sample's clauses are consecutive, in order).

    Shapes:
        - **text.x:** :math:`(B, L, D)`
        - **clauses.x:** :math:`(P, L_c, D + \text{positions})`, :math:`L_c` the longest clause
        - **owner:** :math:`(P,)`

    Raises:
        ValueError: without labels, with a label count that is not the sample's element count,
            when no sample has a non-empty clause, or when a clause is longer than ``positions``.
    """
    if not isinstance(text, ModalityBatch):
        raise ValueError(f"modality {name!r}: expected a ModalityBatch, got {type(text).__name__}")
    if text.labels is None:
        raise ValueError(f"modality {name!r}: clauses are split at elements labelled {separator!r}, "
                         "but the modality has no labels (each element's text)")
    if isinstance(positions, bool) or not isinstance(positions, int) or positions < 0:
        raise ValueError(f"positions: expected a non-negative int, got {positions!r}")
    keep, clause, size = _clause_index(text, separator, name)
    nonempty = size > 0
    if not bool(nonempty.any()):
        raise ValueError(f"modality {name!r}: no sample has a non-empty clause")
    b, num = size.shape
    pair = torch.cumsum(nonempty.flatten().long(), 0).reshape(b, num) - 1  # (B, C) clause -> pair id
    owner = nonempty.nonzero()[:, 0]
    start = torch.cumsum(size, 1) - size  # elements of the sample before each clause
    within = torch.cumsum(keep.long(), 1) - 1 - start.gather(1, clause)  # (B, L) index inside the clause
    longest = int(size.max())
    if positions and longest > positions:
        raise ValueError(f"modality {name!r}: a clause of {longest} elements, more than positions={positions}")
    rows, cols = keep.nonzero(as_tuple=True)
    p, w = pair[rows, clause[rows, cols]], within[rows, cols]
    total = int(owner.numel())

    def place(values: Optional[Tensor]) -> Optional[Tensor]:
        if values is None:
            return None
        out = values.new_zeros(total, longest, values.size(-1))
        out[p, w] = values[rows, cols]
        return out

    x = place(text.x)
    assert x is not None
    new_mask = torch.zeros(total, longest, dtype=torch.bool, device=x.device)
    new_mask[p, w] = True
    if positions:
        onehot = F.one_hot(torch.arange(longest, device=x.device), positions).to(x.dtype)
        x = torch.cat([x, onehot.expand(total, -1, -1)], -1) * new_mask.unsqueeze(-1)
    labels = _split_labels(text.labels, separator)
    out = ModalityBatch(x, mask=new_mask, pos=place(text.pos), time=place(text.time), labels=labels, name=name,
                        check=False)
    return out, owner


def _clause_index(text: ModalityBatch, separator: str, name: str) -> tuple[Tensor, Tensor, Tensor]:
    """``(keep, clause, size)``: real non-separator elements ``(B, L)``, each element's clause index
    ``(B, L)`` and the element count of every clause ``(B, C)``."""
    b, n, _ = text.x.shape
    mask = text.mask
    counts = mask.sum(1).tolist()
    sep_rows, sep_cols = [], []
    for i, labels in enumerate(text.labels or []):
        if labels is None:
            if counts[i]:
                raise ValueError(f"modality {name!r}: sample {i} has {counts[i]} elements but no labels")
            continue
        if len(labels) != counts[i]:
            raise ValueError(f"modality {name!r}: sample {i} has {counts[i]} elements but {len(labels)} labels")
        real = mask[i].nonzero().flatten().tolist()
        for j, label in zip(real, labels):
            if label == separator:
                sep_rows.append(i)
                sep_cols.append(j)
    sep = torch.zeros(b, n, dtype=torch.bool, device=text.x.device)
    sep[torch.tensor(sep_rows, dtype=torch.long), torch.tensor(sep_cols, dtype=torch.long)] = True
    keep = mask & ~sep
    clause = torch.cumsum(sep.long(), 1)
    num = int(clause.max()) + 1 if n else 1
    size = torch.zeros(b, num, dtype=torch.long, device=text.x.device)
    size.scatter_add_(1, clause, keep.long())
    return keep, clause, size


def _split_labels(samples: Sequence[Optional[Sequence[str]]], separator: str) -> list[list[str]]:
    """The same split on the label lists: the non-empty clauses, sample by sample."""
    labels: list[list[str]] = []
    for sample in samples:
        current: list[str] = []
        for label in list(sample or []) + [separator]:
            if label != separator:
                current.append(label)
            elif current:
                labels.append(current)
                current = []
    return labels


class ClauseReranker(nn.Module):
    r"""Score an (image, text) pair as the soft minimum of its clauses' scores.

    A caption that states several facts matches an image only if every fact holds. The text is
    split into clauses at its ``separator`` elements (:func:`split_clauses`), every (image,
    clause) pair is scored by the ``inner`` pairwise model (match score :math:`s_c = o_{c,1} -
    o_{c,0}` of its two outputs), and the pair's score is their soft minimum

    .. math::

        s = -\tau \log \sum_{c=1}^{C} \exp(-s_c / \tau),

    output as the logits :math:`(0, s)`, so that the cross-entropy with the match label is the
    logistic loss of :math:`s`, and :math:`s \le \min_c s_c`: one false clause makes the pair
    a non-match. A sample without any clause gets :math:`s = 0`.

    **Masked words** (``vocab`` given and ``masked_words > 0``), the masked-language-modelling
    objective of image–text matching models such as UNITER and ALBEF: in training, one word of
    every clause of every matching pair (``batch.y == 1``; one of ``maskable`` if given) has its
    features zeroed (its clause position is kept), the ``inner`` model scores the masked pair,
    and the cross-entropy of its outputs ``2:`` (one per word of ``vocab``) with the hidden word,
    times ``masked_words``, is left in :attr:`auxiliary_loss`, which :func:`~mmgraph.train.fit`
    adds to the loss. Filling in "the ___ circle is the furthest from the gray square" from the
    image is a question with an answer, a denser signal than match / no match.

    Args:
        inner: Pairwise model over (image, clause) batches, returning ``(P, 2)`` (no match /
            match); with ``positions > 0`` its text input width is the text's plus ``positions``.
        text: The text modality (its ``labels`` hold each element's text).
        separator: The label that separates clauses.
        positions: One-hot columns of the element's index within its clause appended to the
            text features (``0``: none).
        temperature: :math:`\tau` of the soft minimum.
        vocab: The words the masked-word head predicts (``inner`` then returns
            ``2 + len(vocab)`` outputs); ``None``: no masked words.
        masked_words: Weight of the masked-word loss (``0``: off).
        maskable: The words that may be masked (default: every word of ``vocab``).

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` with the text and the image modalities
        - **output:** :math:`(B, 2)`
    """

    task = "classification"

    def __init__(self, inner: nn.Module, text: str = "caption", separator: str = ";", positions: int = 16,
                 temperature: float = 1.0, vocab: Optional[Sequence[str]] = None, masked_words: float = 0.0,
                 maskable: Optional[Collection[str]] = None) -> None:
        super().__init__()
        if not isinstance(separator, str) or not separator:
            raise ValueError(f"separator: expected a non-empty string, got {separator!r}")
        if isinstance(positions, bool) or not isinstance(positions, int) or positions < 0:
            raise ValueError(f"positions: expected a non-negative int, got {positions!r}")
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"temperature: expected a positive number, got {temperature!r}")
        if isinstance(masked_words, bool) or not isinstance(masked_words, (int, float)) or masked_words < 0:
            raise ValueError(f"masked_words: expected a non-negative number, got {masked_words!r}")
        if masked_words > 0 and not vocab:
            raise ValueError(f"masked_words={masked_words!r} needs vocab (the words to predict), got {vocab!r}")
        self.inner = inner
        self.text, self.separator, self.positions = text, separator, positions
        self.temperature = float(temperature)
        self.vocab = list(vocab) if vocab else None
        self.masked_words = float(masked_words)
        self._word_id = {w: i for i, w in enumerate(self.vocab or [])}
        unknown = sorted(set(maskable or ()) - set(self._word_id))
        if unknown:
            raise ValueError(f"maskable: expected words of vocab, got {unknown} that are not")
        self.maskable = set(maskable) if maskable else set(self._word_id)
        #: The masked-word loss of the last training forward (``None`` in eval mode or when off).
        self.auxiliary_loss: Optional[Tensor] = None

    def clause_scores(self, batch: MultimodalBatch) -> tuple[Tensor, Tensor]:
        """``(scores (P,), owner (P,))``: the match score of every (image, clause) pair and its sample."""
        scores, owner, _ = self._score_clauses(batch)
        return scores, owner

    def _score_clauses(self, batch: MultimodalBatch) -> tuple[Tensor, Tensor, ModalityBatch]:
        if not isinstance(batch, MultimodalBatch):
            raise ValueError(f"expected a MultimodalBatch, got {type(batch).__name__}")
        if self.text not in batch.modalities:
            raise ValueError(f"modality {self.text!r}: expected in the batch, got modalities "
                             f"{batch.modalities + list(batch.raw)}")
        clauses, owner = split_clauses(batch[self.text], self.separator, self.positions, name=self.text)
        pairs = batch.without(self.text).select(owner).with_modalities({self.text: clauses})
        out = self.inner(pairs)
        want = 2 + len(self.vocab) if self.vocab else 2
        if out.dim() != 2 or out.size(1) != want:
            raise ValueError(f"inner: expected outputs of shape (pairs, {want}) (no match, match"
                             f"{', one per vocab word' if self.vocab else ''}), got {tuple(out.shape)}")
        return out[:, 1] - out[:, 0], owner, clauses

    def masked_word_loss(self, batch: MultimodalBatch, clauses: ModalityBatch, owner: Tensor) -> Optional[Tensor]:
        """Cross-entropy of the hidden word of every clause of the matching pairs (``None``: none to mask)."""
        if batch.y is None:
            return None
        y = batch.y.reshape(-1)
        if y.numel() != batch.batch_size:
            raise ValueError(f"masked words: expected one match label per pair in batch.y ({batch.batch_size}), "
                             f"got shape {tuple(batch.y.shape)}")
        positive = (y == 1).to(owner.device)[owner]
        assert clauses.labels is not None
        picks, rows, targets = [], [], []
        for p in positive.nonzero().flatten().tolist():
            words = [k for k, w in enumerate(clauses.labels[p]) if w in self.maskable]
            if words:
                k = words[int(torch.randint(len(words), ()))]
                rows.append(p)
                picks.append(k)
                targets.append(self._word_id[clauses.labels[p][k]])
        if not rows:
            return None
        index = torch.tensor(rows, device=owner.device)
        masked = clauses.select(index)
        x = masked.x.clone()
        width = x.size(-1) - self.positions
        x[torch.arange(len(rows)), torch.tensor(picks), :width] = 0.0
        masked.x = x
        pairs = batch.without(self.text).select(owner[index]).with_modalities({self.text: masked})
        logits = self.inner(pairs)[:, 2:]
        return F.cross_entropy(logits, torch.tensor(targets, device=logits.device))

    def forward(self, batch: MultimodalBatch) -> Tensor:
        scores, owner, clauses = self._score_clauses(batch)
        self.auxiliary_loss = None
        if self.training and self.masked_words > 0:
            loss = self.masked_word_loss(batch, clauses, owner)
            self.auxiliary_loss = None if loss is None else self.masked_words * loss
        b, tau = batch.batch_size, self.temperature
        neg = -scores / tau
        top = neg.new_full((b,), float("-inf")).scatter_reduce(0, owner, neg, "amax")
        top = top.detach().nan_to_num(0.0, neginf=0.0)
        total = neg.new_zeros(b).index_add(0, owner, torch.exp(neg - top[owner]))
        has = torch.zeros(b, dtype=torch.bool, device=scores.device)
        has[owner] = True
        soft_min = torch.where(has, -tau * (torch.log(total.clamp_min(1e-30)) + top), torch.zeros_like(total))
        return torch.stack([torch.zeros_like(soft_min), soft_min], -1)

    def __repr__(self) -> str:
        masked = f", masked_words={self.masked_words:g}" if self.masked_words else ""
        return (f"{type(self).__name__}({type(self.inner).__name__}, separator={self.separator!r}, "
                f"positions={self.positions}, temperature={self.temperature:g}{masked})")
