"""Ground-truth captions of Sort-of-CLEVR scenes: objects and their relations, in varied wording."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

from mmgraph.datasets.sort_of_clevr import COLORS, NUM_OBJECTS, SHAPES, SortOfCLEVR, _check_positions, _check_shapes

__all__ = [
    "Fact", "Caption", "RELATIONS", "scene_facts", "fact_text", "scene_captions", "caption_dataset",
    "CAPTION_VOCAB", "PAD", "BOS", "EOS", "caption_tokens", "caption_text", "parse_caption", "caption_is_true",
    "corrupt_caption", "SceneCaptions",
]

#: Relations a fact can state: ``subject <relation> object``.
RELATIONS = ("left_of", "right_of", "above", "below", "closest_to", "furthest_from")

# Several wordings per relation; the caption generator picks one at random.
_WORDING = {
    "left_of": ("is left of", "is to the left of"),
    "right_of": ("is right of", "is to the right of"),
    "above": ("is above", "is higher than"),
    "below": ("is below", "is lower than"),
    "closest_to": ("is the closest to", "is the nearest object to"),
    "furthest_from": ("is the furthest from", "is the farthest object from"),
}


@dataclass(frozen=True)
class Fact:
    """``subject <relation> object``, objects by index (object ``i`` has colour ``COLORS[i]``)."""

    relation: str
    subject: int
    object: int


@dataclass(frozen=True)
class Caption:
    """A caption and the facts it states (for exact-match scoring of relations)."""

    text: str
    facts: tuple[Fact, ...]


def scene_facts(shapes: Any, positions: Any) -> list[Fact]:
    """Every true fact about a scene, in a fixed order.

    - ``left_of``/``right_of``/``above``/``below`` for every ordered pair whose centres differ
      in that coordinate (``y`` grows downwards, as in image coordinates);
    - ``closest_to``/``furthest_from``: for every object ``X``, the object nearest to / furthest
      from it (ties go to the lowest colour index, as in the VQA answers).

    Args:
        shapes: Shape id of each of the 6 objects (``0`` square, ``1`` circle).
        positions: ``(6, 2)`` centres ``(x, y)``, in pixels or normalised (any common scale).
    """
    _check_shapes(shapes)
    pos = _check_positions(positions)
    facts: list[Fact] = []
    for i in range(NUM_OBJECTS):
        for j in range(NUM_OBJECTS):
            if i == j:
                continue
            if pos[i, 0] < pos[j, 0]:
                facts.append(Fact("left_of", i, j))
            if pos[i, 0] > pos[j, 0]:
                facts.append(Fact("right_of", i, j))
            if pos[i, 1] < pos[j, 1]:
                facts.append(Fact("above", i, j))
            if pos[i, 1] > pos[j, 1]:
                facts.append(Fact("below", i, j))
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
    for x in range(NUM_OBJECTS):
        others = np.where(np.arange(NUM_OBJECTS) == x, np.inf, d2[x])
        facts.append(Fact("closest_to", int(np.argmin(others)), x))
        others = np.where(np.arange(NUM_OBJECTS) == x, -np.inf, d2[x])
        facts.append(Fact("furthest_from", int(np.argmax(others)), x))
    return facts


def _name(shapes: np.ndarray, i: int) -> str:
    return f"{COLORS[i]} {SHAPES[int(shapes[i])]}"


def fact_text(fact: Fact, shapes: Any, wording: int = 0) -> str:
    """The English sentence of ``fact``, e.g. ``"the red circle is left of the blue square"``.

    Args:
        fact: The fact.
        shapes: The scene's shape ids (to name the objects).
        wording: Which of the relation's wordings (``0`` or ``1``).
    """
    s = _check_shapes(shapes)
    if fact.relation not in _WORDING:
        raise ValueError(f"fact.relation: expected one of {list(RELATIONS)}, got {fact.relation!r}")
    variants = _WORDING[fact.relation]
    if isinstance(wording, bool) or not isinstance(wording, int) or not 0 <= wording < len(variants):
        raise ValueError(f"wording: expected an index in [0, {len(variants)}), got {wording!r}")
    return f"the {_name(s, fact.subject)} {variants[wording]} the {_name(s, fact.object)}"


def scene_captions(
    shapes: Any,
    positions: Any,
    num_captions: int = 5,
    facts_per_caption: int = 2,
    seed: Union[int, np.random.Generator] = 0,
) -> list[Caption]:
    """``num_captions`` captions of one scene, each stating ``facts_per_caption`` true facts.

    Each caption joins distinct facts with ``"; "`` (e.g. ``"the red circle is left of the blue
    square; the green square is the furthest from the gray circle"``), one relation a
    closest/furthest fact whenever possible, so captions need relations to be told apart.
    Facts and wordings are drawn with ``seed``: the same seed gives the same captions.
    """
    for name, value, low in (("num_captions", num_captions, 1), ("facts_per_caption", facts_per_caption, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    s = _check_shapes(shapes)
    facts = scene_facts(s, positions)
    extreme = [f for f in facts if f.relation in ("closest_to", "furthest_from")]
    spatial = [f for f in facts if f.relation not in ("closest_to", "furthest_from")]
    out = []
    for _ in range(num_captions):
        chosen = [extreme[rng.integers(len(extreme))]]
        pool = [f for f in spatial + extreme if f != chosen[0]]
        extra = rng.choice(len(pool), size=min(facts_per_caption - 1, len(pool)), replace=False)
        chosen += [pool[int(k)] for k in extra]
        order = rng.permutation(len(chosen))
        chosen = [chosen[int(k)] for k in order]
        text = "; ".join(fact_text(f, s, int(rng.integers(2))) for f in chosen)
        out.append(Caption(text, tuple(chosen)))
    return out


def caption_dataset(data: SortOfCLEVR, num_captions: int = 5, facts_per_caption: int = 2, seed: int = 0) -> list[list[Caption]]:
    """Captions of every image of a :class:`~mmgraph.datasets.SortOfCLEVR` dataset (deterministic under ``seed``)."""
    if not isinstance(data, SortOfCLEVR):
        raise ValueError(f"data: expected a SortOfCLEVR dataset, got {type(data).__name__}")
    rng = np.random.default_rng(seed)
    shapes = data.states[:, :, len(COLORS) : len(COLORS) + len(SHAPES)].argmax(-1).numpy()
    positions = data.positions.numpy()
    return [scene_captions(shapes[i], positions[i], num_captions, facts_per_caption, rng) for i in range(len(data))]


# ----------------------------------------------------------------------------- tokens

#: Special tokens of :data:`CAPTION_VOCAB`: padding, begin and end of a caption.
PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"


def _caption_words() -> tuple[str, ...]:
    words = {"the", ";"} | set(COLORS) | set(SHAPES)
    for variants in _WORDING.values():
        for phrase in variants:
            words.update(phrase.split())
    return (PAD, BOS, EOS, *sorted(words))


#: Every token a caption can contain (ids are indices; ``0`` is padding).
CAPTION_VOCAB: tuple[str, ...] = _caption_words()
_CAPTION_IDS = {w: i for i, w in enumerate(CAPTION_VOCAB)}


def caption_tokens(text: str) -> list[int]:
    """Token ids of a caption (``";"`` is a token of its own), without ``<bos>``/``<eos>``.

    Raises:
        ValueError: for a word outside :data:`CAPTION_VOCAB`.
    """
    if not isinstance(text, str):
        raise ValueError(f"text: expected a caption string, got {type(text).__name__}")
    ids = []
    for word in text.replace(";", " ; ").split():
        if word not in _CAPTION_IDS or word in (PAD, BOS, EOS):
            raise ValueError(f"text: word {word!r} is not in the caption vocabulary (CAPTION_VOCAB)")
        ids.append(_CAPTION_IDS[word])
    return ids


def caption_text(ids: Any) -> str:
    """The caption of token ids; stops at ``<eos>``, skips ``<pad>``/``<bos>``."""
    words = []
    for i in (ids.tolist() if hasattr(ids, "tolist") else list(ids)):
        i = int(i)
        if not 0 <= i < len(CAPTION_VOCAB):
            raise ValueError(f"ids: expected token ids in [0, {len(CAPTION_VOCAB)}), got {i}")
        word = CAPTION_VOCAB[i]
        if word == EOS:
            break
        if word not in (PAD, BOS):
            words.append(word)
    return " ".join(words).replace(" ;", ";")


_PHRASES = {phrase: rel for rel, variants in _WORDING.items() for phrase in variants}


def parse_caption(text: str) -> Optional[list[tuple[str, tuple[int, int], tuple[int, int]]]]:
    """The statements of a caption as ``(relation, (colour, shape), (colour, shape))``, or ``None``.

    The inverse of :func:`fact_text` joined by ``"; "``: each part must read ``the <colour>
    <shape> <relation phrase> the <colour> <shape>``. Returns ``None`` when any part does not
    (a malformed generated caption).
    """
    out = []
    for part in text.split(";"):
        words = part.split()
        if len(words) < 7 or words[0] != "the" or words[-3] != "the":
            return None
        phrase = " ".join(words[3:-3])
        if phrase not in _PHRASES or words[1] not in COLORS or words[-2] not in COLORS:
            return None
        if words[2] not in SHAPES or words[-1] not in SHAPES:
            return None
        subject = (COLORS.index(words[1]), SHAPES.index(words[2]))
        obj = (COLORS.index(words[-2]), SHAPES.index(words[-1]))
        out.append((_PHRASES[phrase], subject, obj))
    return out


def caption_is_true(text: str, shapes: Any, positions: Any) -> bool:
    """Whether a caption parses and every statement in it holds in the scene (relation and both shapes).

    This is what ``relation_em`` scores for a generated caption.
    """
    statements = parse_caption(text)
    if not statements:
        return False
    s = _check_shapes(shapes)
    truth = set(scene_facts(s, positions))
    for relation, (a, sa), (b, sb) in statements:
        if a == b or int(s[a]) != sa or int(s[b]) != sb or Fact(relation, a, b) not in truth:
            return False
    return True


def corrupt_caption(caption: Caption, shapes: Any, positions: Any, seed: Union[int, np.random.Generator] = 0) -> str:
    """A hard negative: ``caption`` with exactly one statement made false.

    One fact is either replaced by a false fact of the same relation (another subject or
    object, so the scene differs in one relation) or has one object's shape word flipped
    (the scene differs in one attribute); the other statements and the wording stay.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    s = _check_shapes(shapes)
    truth = set(scene_facts(s, positions))
    parts = caption.text.split("; ")
    if len(parts) != len(caption.facts):
        raise ValueError(f"caption: expected one '; '-separated part per fact ({len(caption.facts)}), got {len(parts)}")
    k = int(rng.integers(len(parts)))
    fact = caption.facts[k]
    wording = next(w for w in range(2) if fact_text(fact, s, w) == parts[k])
    if rng.random() < 0.5:
        false = [Fact(fact.relation, a, b) for a in range(NUM_OBJECTS) for b in range(NUM_OBJECTS)
                 if a != b and Fact(fact.relation, a, b) not in truth]
        parts[k] = fact_text(false[int(rng.integers(len(false)))], s, wording)
    else:
        which = fact.subject if rng.random() < 0.5 else fact.object
        flipped = s.copy()
        flipped[which] = 1 - flipped[which]
        parts[k] = fact_text(fact, flipped, wording)
    return "; ".join(parts)


# ----------------------------------------------------------------------------- batches


class SceneCaptions:
    r"""Sort-of-CLEVR scenes with their captions as padded token tensors, and batches of them.

    Text is one modality (``"caption"``) whose elements are tokens with features
    ``[one-hot word (|V|); one-hot position (max_len)]``, so models without a sequence graph
    still know word order. The image is ``"objects"`` (``input="state"``: one element per object,
    its state description, ``pos`` its centre) or ``"image"`` (``input="pixels"``: the raw image,
    for an extractor such as :class:`~mmgraph.nn.GridCNN`).

    Args:
        scenes: The scenes.
        num_captions: Captions per image.
        facts_per_caption: Statements per caption.
        seed: Seed of the captions.
        max_len: Token positions (default: the longest caption of these scenes).
        text_encoder: Optional pretrained encoder with ``dim`` and ``encode(texts) -> [Modality]``
            (e.g. :class:`~mmgraph.features.MiniLMTokens`): token features are then its contextual
            embeddings of the caption's text (word pieces) instead of one-hot words.

    Attributes:
        captions: ``[[Caption, ...] per image]``.
        tokens: ``(N, num_captions, max_len)`` token ids, ``0``-padded.
        lengths: ``(N, num_captions)`` caption lengths.
    """

    def __init__(self, scenes: SortOfCLEVR, num_captions: int = 5, facts_per_caption: int = 3, seed: int = 0,
                 max_len: Optional[int] = None, text_encoder: Optional[Any] = None) -> None:
        import torch

        self.scenes = scenes
        self.text_encoder = text_encoder
        self._embedded: dict[str, Any] = {}
        self._pieces: dict[str, Optional[list[str]]] = {}
        self.captions = caption_dataset(scenes, num_captions, facts_per_caption, seed)
        ids = [[caption_tokens(c.text) for c in caps] for caps in self.captions]
        longest = max(len(t) for caps in ids for t in caps)
        self.max_len = longest if max_len is None else max_len
        if self.max_len < longest:
            raise ValueError(f"max_len: expected >= {longest} (the longest caption), got {self.max_len}")
        self.tokens = torch.zeros(len(scenes), num_captions, self.max_len, dtype=torch.long)
        self.lengths = torch.zeros(len(scenes), num_captions, dtype=torch.long)
        for i, caps in enumerate(ids):
            for k, t in enumerate(caps):
                self.tokens[i, k, : len(t)] = torch.tensor(t)
                self.lengths[i, k] = len(t)
        self.num_captions = num_captions
        self.shapes = scenes.states[:, :, len(COLORS) : len(COLORS) + len(SHAPES)].argmax(-1).numpy()
        self.positions = scenes.positions.numpy()

    def __len__(self) -> int:
        return len(self.scenes)

    @property
    def text_dim(self) -> int:
        """Width of a token's features: ``len(CAPTION_VOCAB) + max_len`` (with a text encoder: its ``dim + max_len``)."""
        return (self.text_encoder.dim if self.text_encoder is not None else len(CAPTION_VOCAB)) + self.max_len

    def embed(self, texts: list[str]) -> list[Any]:
        """The text encoder's token embeddings of ``texts``, each ``(L_i, dim)``; computed once per distinct text."""
        if self.text_encoder is None:
            raise ValueError("embed: this SceneCaptions has no text_encoder")
        missing = sorted({t for t in texts if t not in self._embedded})
        if missing:
            for text, m in zip(missing, self.text_encoder.encode(missing)):
                if m.x.size(0) > self.max_len:
                    raise ValueError(f"text encoder: {m.x.size(0)} tokens for {text!r}, more than max_len={self.max_len}")
                self._embedded[text] = m.x.float()
                self._pieces[text] = list(m.labels) if m.labels is not None else None
        return [self._embedded[t] for t in texts]

    def embed_all(self) -> None:
        """Embed every caption of the scenes now (a text encoder runs in large batches)."""
        self.embed([c.text for caps in self.captions for c in caps])

    def encode(self, texts: list[str]) -> tuple[Any, Any]:
        """``(tokens (B, max_len), lengths (B,))`` of caption strings."""
        import torch

        tokens = torch.zeros(len(texts), self.max_len, dtype=torch.long)
        lengths = torch.zeros(len(texts), dtype=torch.long)
        for i, text in enumerate(texts):
            t = caption_tokens(text)
            if len(t) > self.max_len:
                raise ValueError(f"texts[{i}]: {len(t)} tokens, more than max_len={self.max_len}")
            tokens[i, : len(t)] = torch.tensor(t)
            lengths[i] = len(t)
        return tokens, lengths

    def text_modality(self, tokens: Any, lengths: Any) -> Any:
        """The ``"caption"`` :class:`~mmgraph.ModalityBatch` of token ids ``(B, max_len)``.

        Its ``labels`` are the tokens' text (the words; with a text encoder, its word pieces), so
        a model can find the statements' ``";"`` separators (:class:`~mmgraph.retrieval.ClauseReranker`).
        """
        import torch
        import torch.nn.functional as F

        from mmgraph.data.batch import ModalityBatch

        b, n = tokens.shape
        labels: list[Optional[list[str]]]
        if self.text_encoder is not None:  # contextual embeddings of the caption's text, one per word piece
            texts = [caption_text(t[: int(k)]) for t, k in zip(tokens, lengths)]
            rows = self.embed(texts)
            labels = [self._pieces.get(t) for t in texts]
            lengths = torch.tensor([r.size(0) for r in rows])
            words = torch.zeros(b, n, self.text_encoder.dim)
            for i, r in enumerate(rows):
                words[i, : r.size(0)] = r
        else:
            words = F.one_hot(tokens, len(CAPTION_VOCAB)).float()
            labels = [[CAPTION_VOCAB[int(w)] for w in t[: int(k)]] for t, k in zip(tokens, lengths)]
        mask = torch.arange(n).unsqueeze(0) < lengths.unsqueeze(1)
        x = torch.cat([words, F.one_hot(torch.arange(n), n).expand(b, n, n).float()], -1)
        return ModalityBatch(x * mask.unsqueeze(-1), mask=mask, labels=labels, name="caption")

    def image_modalities(self, images: Any, input: str = "state") -> tuple[dict[str, Any], dict[str, Any]]:
        """``(modalities, raw)`` of the images ``(B,)`` for :class:`~mmgraph.MultimodalBatch`."""
        import torch

        from mmgraph.data.batch import ModalityBatch
        from mmgraph.data.raw import RawModality

        images = torch.as_tensor(images).long()
        if input == "state":
            return {"objects": ModalityBatch(self.scenes.states[images], pos=self.scenes.positions[images],
                                             name="objects")}, {}
        if input == "pixels":
            unique, index = images.unique(return_inverse=True)
            return {}, {"image": RawModality(self.scenes.images[unique], index, name="image")}
        raise ValueError(f"input: expected 'state' or 'pixels', got {input!r}")

    def pair_batch(self, images: Any, tokens: Any, lengths: Any, y: Any = None, input: str = "state") -> Any:
        """A :class:`~mmgraph.MultimodalBatch` of (image, caption) pairs."""
        from mmgraph.data.batch import MultimodalBatch

        mods, raw = self.image_modalities(images, input)
        return MultimodalBatch({**mods, "caption": self.text_modality(tokens, lengths)}, y=y, raw=raw)

    def caption_targets(self, images: Any, k: Any) -> Any:
        """``(B, max_len + 2)`` decoder targets of caption ``k`` of each image: ``bos``, tokens, ``eos``, ``0``."""
        import torch

        images, k = torch.as_tensor(images).long(), torch.as_tensor(k).long()
        tokens, lengths = self.tokens[images, k], self.lengths[images, k]
        y = torch.zeros(len(images), self.max_len + 2, dtype=torch.long)
        y[:, 0] = CAPTION_VOCAB.index(BOS)
        y[:, 1 : 1 + self.max_len] = tokens
        y[torch.arange(len(images)), lengths + 1] = CAPTION_VOCAB.index(EOS)
        return y

    def scene(self, i: int) -> tuple[Any, Any]:
        """``(shapes, positions)`` of scene ``i``."""
        return self.shapes[i], self.positions[i]
