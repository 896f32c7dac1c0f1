"""Image ↔ caption retrieval over Sort-of-CLEVR scenes: dual encoders, then re-rankers on their top-k."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor, nn

from mmgraph.bench.tasks.base import Batches, BenchTask
from mmgraph.datasets.captions import CAPTION_VOCAB, COLORS, SceneCaptions, corrupt_caption, parse_caption
from mmgraph.datasets.sort_of_clevr import sort_of_clevr_splits
from mmgraph.retrieval.metrics import retrieval_metrics
from mmgraph.retrieval.models import info_nce
from mmgraph.retrieval.rerank import rerank
from mmgraph.train.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from mmgraph.train.fit import default_loss
from mmgraph.train.metrics import classification_metrics

__all__ = ["RetrievalTask", "relation_dependent"]

DUAL = ("dual-graph", "dual-pooled")
#: Token features of the captions: one-hot words, or a pretrained encoder's (``text`` extra).
TEXTS = ("onehot", "minilm")
RERANK = ("rerank-graph", "rerank-attention")


def relation_dependent(data: SceneCaptions, images: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Whether each query caption needs its relations: 2+ gallery images have the shapes it names.

    A caption names objects with their shapes (``the red circle``); if another gallery image
    has the same shapes for those colours, only the stated relations can tell them apart.
    """
    shapes = data.shapes[images]  # gallery = the given images
    out = np.zeros(len(images), dtype=bool)
    for q, (i, kk) in enumerate(zip(images, k)):
        named: dict[int, int] = {}
        for _, (a, sa), (b, sb) in parse_caption(data.captions[i][kk].text) or []:
            named[a], named[b] = sa, sb
        cols, want = list(named), list(named.values())
        out[q] = int((shapes[:, cols] == want).all(1).sum()) >= 2
    return out


class RetrievalTask(BenchTask):
    r"""Text → image and image → text retrieval of Sort-of-CLEVR scenes and their captions.

    Every image has ``num_captions`` captions of ``facts_per_caption`` statements about its
    objects and their relations (:class:`~mmgraph.datasets.captions.SceneCaptions`). The test
    gallery holds every test image and its first caption (1,000 of each by default): each
    caption queries the images, each image queries the captions.

    - **Dual encoders** (``dual-graph``, ``dual-pooled``) train with the symmetric InfoNCE loss
      (:func:`~mmgraph.retrieval.info_nce`) on every (image, caption) pair per epoch; the model is
      selected by validation ``t2i_r1`` over the validation gallery.
    - **Re-rankers** (``rerank-graph``, ``rerank-attention``) classify (image, caption) pairs as
      matching or not; per (image, caption) pair and epoch they see the caption, a hard negative
      (the caption with one statement made false:
      :func:`~mmgraph.datasets.captions.corrupt_caption`) and another image's caption. With
      one-hot text ``rerank-graph`` scores the caption statement by statement and learns to
      fill in one hidden colour word per statement of the positive (``clauses=True``,
      ``masked_words=1.0``, no token ↔ object edges), with its relational layers set up as
      ``caption-graph``'s (``GRAPH_SETUP``: two heads start on each object's closest and
      furthest object, two source heads on the objects it is the closest and furthest to, gates
      closed; with the default layers one seed in three stayed on a plateau, docs/probes.md);
      ``rerank-attention`` scores whole captions
      with a token convolution over the same window of 2 (under the graph's recipe it stayed
      at chance). Both are selected by validation
      ``rank_acc`` (the positive above its hard negative and above the other caption). At test
      time they re-order the ``rerank_k`` best items of the best dual encoder of the same seed
      (by validation ``t2i_r1``; it must have been trained into the same output folder first).

    Metrics: ``t2i_r1/5/10``, ``i2t_r1/5/10``, ``mean_rank`` (text → image), ``i2t_mean_rank`` and
    ``t2i_r1_relational``: text → image Recall@1 over the relation-dependent queries (two or more
    gallery images have the shapes the caption names, so only its relations identify the image).

    Args:
        input: ``"state"``: the image is its objects (state descriptions with positions).
        sizes: ``(train, val, test)`` images; default 4,000 / 500 / 1,000 (quick: 300 / 100 / 200).
        num_captions: Captions per image.
        facts_per_caption: Statements per caption.
        rerank_k: Items of the first stage each re-ranker re-orders per query.
        rerank_every_caption: A re-ranker's training epoch visits every (image, caption) pair,
            each with its triple (the dual encoders' epoch); ``False``: one random caption per
            image and epoch. ``--quick`` runs always use one caption per image (a smoke run).
        text: ``"onehot"`` (token features: one-hot word and position) or ``"minilm"`` (the
            pretrained MiniLM's contextual word-piece embeddings and position; needs the ``text``
            extra, see :class:`~mmgraph.features.MiniLMTokens`).
    """

    name = "retrieval"
    task = "embedding"
    family = "retrieval"
    out_dim = 64
    monitor = "t2i_r1"
    mode = "max"
    #: The dual encoders' level: t2i R@1 ≤ 0.05 in every recorded dual-encoder run and stuck
    #: re-ranker run, ≥ 0.17 for a re-ranker that learned to compare relations.
    plateau = {"t2i_r1": 0.1}
    metric_names = ("t2i_r1", "t2i_r5", "t2i_r10", "i2t_r1", "i2t_r5", "i2t_r10", "mean_rank", "i2t_mean_rank",
                    "t2i_r1_relational")
    default_models = ("dual-graph", "dual-pooled", "rerank-graph", "rerank-attention")
    full_settings = {"epochs": 20, "lrs": (1e-3, 3e-3), "sweep_epochs": 2, "batch_size": 128}
    quick_settings = {"epochs": 3, "batch_size": 64}

    #: How ``rerank-graph``'s relational layers are set up (as ``caption-graph``'s): two target and
    #: two source heads starting on each object's closest and furthest object, and closed gates.
    GRAPH_SETUP = {"select_heads": 4, "source_heads": 2, "distance_prior": 100.0, "gate_init": -10.0}

    FULL = (4000, 500, 1000)
    QUICK = (300, 100, 200)

    def __init__(self, input: str = "state", sizes: Optional[tuple[int, int, int]] = None, num_captions: int = 5,
                 facts_per_caption: int = 3, rerank_k: int = 50, text: str = "onehot",
                 rerank_every_caption: bool = True) -> None:
        if input != "state":
            raise ValueError(f"input: retrieval runs on state descriptions (input='state'), got {input!r}")
        if text not in TEXTS:
            raise ValueError(f"text: expected one of {list(TEXTS)}, got {text!r}")
        self.text = text
        self.name = "retrieval" if text == "onehot" else f"retrieval-{text}"
        self.input, self.sizes = input, sizes
        self.num_captions, self.facts_per_caption, self.rerank_k = num_captions, facts_per_caption, rerank_k
        if not isinstance(rerank_every_caption, bool):
            raise ValueError(f"rerank_every_caption: expected a bool, got {rerank_every_caption!r}")
        self.rerank_every_caption = self._every = rerank_every_caption
        self.data: dict[str, SceneCaptions] = {}
        self.model_name, self.seed, self.out_dir = DUAL[0], 0, None
        self._rng = np.random.default_rng(0)

    # ------------------------------------------------------------------ data

    def load(self, quick: bool, seed: int = 0) -> None:
        sizes = self.sizes or (self.QUICK if quick else self.FULL)
        self.sizes = sizes
        self._every = self.rerank_every_caption and not quick
        scenes = sort_of_clevr_splits(*sizes, seed=seed)
        encoder = None
        if self.text == "minilm":
            from mmgraph.features import MiniLMTokens

            encoder = MiniLMTokens(batch_size=256)
        self.data = {}
        for i, split in enumerate(("train", "val", "test")):
            self.data[split] = SceneCaptions(scenes[split], self.num_captions, self.facts_per_caption, seed=seed + 17 * i,
                                             max_len=self.facts_per_caption * 13, text_encoder=encoder)
            if encoder is not None:
                self.data[split].embed_all()

    def config(self) -> dict[str, Any]:
        return {"input": self.input, "text": self.text, "images": dict(zip(("train", "val", "test"), self.sizes or self.FULL)),
                "captions_per_image": self.num_captions, "facts_per_caption": self.facts_per_caption,
                "gallery": (self.sizes or self.FULL)[2], "rerank_k": self.rerank_k,
                "rerank_every_caption": self._every, "rerank_graph": dict(self.GRAPH_SETUP)}

    @property
    def _image(self) -> str:
        return "objects" if self.input == "state" else "image"

    def in_dims(self) -> dict[str, int]:
        text = next(iter(self.data.values())).text_dim if self.data else 0
        return {self._image: 10, "caption": text}

    def model_kwargs(self, name: str, hidden: int) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"out_dim": self.out_dim if name in DUAL else 2}
        if name == "rerank-graph" and self.text == "onehot":
            # The graph re-ranker scores the caption statement by statement and learns to fill
            # in a hidden colour word from the image (docs/probes.md: it verified
            # relations only with these).
            kwargs.update(clauses=True, masked_words=1.0, vocab=CAPTION_VOCAB, maskable=COLORS, cross=False)
            kwargs.update(self.GRAPH_SETUP)
        elif name == "rerank-attention" and self.text == "onehot":
            # Whole captions and the token convolution over the graph's window of 2: with the
            # graph's recipe the attention re-ranker stayed at chance (docs/probes.md).
            kwargs["local_window"] = 2
        return kwargs

    def use(self, name: str, seed: int = 0, out_dir: Optional[Path] = None) -> None:
        self.model_name, self.seed, self.out_dir = name, seed, out_dir
        self.monitor = "t2i_r1" if name in DUAL else "rank_acc"

    def loss_fn(self):  # noqa: ANN201
        return info_nce if self.model_name in DUAL else default_loss("classification")

    def val_metrics(self):  # noqa: ANN201
        return _dual_val_metrics if self.model_name in DUAL else _rerank_val_metrics

    def num_samples(self, split: str) -> int:
        return len(self.data[split])

    def batches(self, split: str, batch_size: int, shuffle: bool, seed: int = 0) -> Batches:
        data = self.data[split]
        n, c = len(data), data.num_captions
        if self.model_name in DUAL:
            if split == "train":  # every (image, caption) pair once per epoch
                def make(idx: Tensor) -> Any:
                    images, k = idx // c, idx % c
                    return data.pair_batch(images, data.tokens[images, k], data.lengths[images, k], y=images,
                                           input=self.input)
                return Batches(make, n * c, 1, batch_size, shuffle, seed)

            def make_first(idx: Tensor) -> Any:  # the gallery: each image with its first caption
                return data.pair_batch(idx, data.tokens[idx, 0], data.lengths[idx, 0], y=idx, input=self.input)
            return Batches(make_first, n, 1, batch_size, shuffle, seed)
        rng = np.random.default_rng([seed, 7])
        every = self._every and split == "train"

        def make_pairs(idx: Tensor) -> Any:  # item * 3 + (0 positive, 1 hard negative, 2 other image's caption)
            items, kind = (idx // 3).numpy(), (idx % 3).numpy()  # item: an image, or (every) image * c + caption
            images = items // c if every else items
            texts, y = [], []
            for item, i, kd in zip(items, images, kind):
                r = rng if split == "train" else np.random.default_rng([int(i), int(kd), 11])
                cap = data.captions[i][int(item % c) if every else int(r.integers(c))]
                if kd == 0:
                    texts.append(cap.text)
                elif kd == 1:
                    texts.append(corrupt_caption(cap, *data.scene(i), seed=r))
                else:
                    j = (i + 1 + int(r.integers(n - 1))) % n if n > 1 else i
                    texts.append(data.captions[j][int(r.integers(c))].text)
                y.append(int(kd == 0))
            tokens, lengths = data.encode(texts)
            return data.pair_batch(torch.as_tensor(images), tokens, lengths, y=torch.tensor(y), input=self.input)
        return Batches(make_pairs, n * c if every else n, 3, max(1, batch_size // 3), shuffle, seed)

    # ------------------------------------------------------------------ models

    def _model_path(self, name: str, seed: int) -> Path:
        assert self.out_dir is not None
        return Path(self.out_dir) / "models" / f"{name}__seed{seed}.safetensors"

    def after_fit(self, name: str, seed: int, model: nn.Module, best_val: dict[str, float], hidden: int) -> None:
        """Keep every dual encoder (weights + validation metrics), the first stage of the re-rankers."""
        if name in DUAL and self.out_dir is not None:
            self._model_path(name, seed).parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(self._model_path(name, seed), model, {"model": name, "hidden": hidden, "seed": seed,
                                                                  "val": best_val})

    def first_stage(self, seed: int) -> tuple[str, nn.Module]:
        """The dual encoder of run ``seed`` with the best validation ``t2i_r1`` in the output folder."""
        from mmgraph.bench.budget import build_model

        found = []
        for name in DUAL:
            path = self._model_path(name, seed) if self.out_dir is not None else None
            if path is not None and path.exists():
                found.append((read_metadata(path)["val"]["t2i_r1"], name, path))
        if not found:
            raise ValueError(f"{self.model_name} re-ranks a dual encoder's top-k, but no dual encoder of seed {seed} is "
                             f"saved in {str(self.out_dir)!r}; run {' or '.join(DUAL)} into the same --out first")
        _, name, path = max(found)
        model = build_model(self, name, int(read_metadata(path)["hidden"]))
        load_checkpoint(path, model)
        return name, model.eval()

    # ------------------------------------------------------------------ metrics

    @torch.no_grad()
    def _dual_scores(self, model: nn.Module, split: str, batch_size: int) -> Tensor:
        """``(N, N)`` cosine scores of the gallery: captions (rows) × images (columns)."""
        model.eval()
        images, texts = [], []
        for batch in self.batches(split, batch_size, shuffle=False):
            out = model(batch)
            images.append(out[:, 0])
            texts.append(out[:, 1])
        return torch.cat(texts) @ torch.cat(images).T

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str, batch_size: int) -> dict[str, float]:
        data = self.data[split]
        n = len(data)
        if self.model_name in RERANK:
            _, first = self.first_stage(self.seed)
            t2i = self.for_model(DUAL[0], self.seed, self.out_dir)._dual_scores(first, split, batch_size)
            model.eval()
            tokens, lengths = data.tokens[:, 0], data.lengths[:, 0]

            def pairs(images: Tensor, captions: Tensor) -> Tensor:
                out = model(data.pair_batch(images, tokens[captions], lengths[captions], input=self.input))
                return out[:, 1] - out[:, 0]

            k = min(self.rerank_k, n)  # a gallery smaller than k: re-rank all of it
            t2i_final = rerank(t2i, k, lambda q, i: pairs(i, q), batch_size)
            i2t_final = rerank(t2i.T.contiguous(), k, lambda q, i: pairs(q, i), batch_size)
        else:
            t2i_final = self._dual_scores(model, split, batch_size)
            i2t_final = t2i_final.T
        targets = torch.arange(n)
        metrics = {k: v for k, v in retrieval_metrics(t2i_final, targets, prefix="t2i_").items()}
        metrics["mean_rank"] = metrics.pop("t2i_mean_rank")
        metrics.update(retrieval_metrics(i2t_final, targets, prefix="i2t_"))
        dependent = torch.as_tensor(relation_dependent(data, np.arange(n), np.zeros(n, dtype=int)))
        top1 = t2i_final.argmax(1) == targets
        metrics["t2i_r1_relational"] = float(top1[dependent].float().mean()) if dependent.any() else float("nan")
        return metrics

    def describe(self, output: Tensor) -> str:
        return f"match score {float(output.reshape(-1)[-1] - output.reshape(-1)[0]):+.2f}"


def _dual_val_metrics(out: Tensor, y: Tensor) -> dict[str, float]:
    """Validation metrics of a dual encoder: retrieval over the validation gallery (one caption per image)."""
    scores = out[:, 1] @ out[:, 0].T
    targets = torch.arange(out.size(0))
    metrics = retrieval_metrics(scores, targets, ks=(1, 5), prefix="t2i_")
    metrics.update(retrieval_metrics(scores.T, targets, ks=(1, 5), prefix="i2t_"))
    return metrics


def _rerank_val_metrics(out: Tensor, y: Tensor) -> dict[str, float]:
    """Validation metrics of a re-ranker over (positive, hard negative, other caption) triples.

    ``acc``: match / no-match accuracy; ``pos_above_hard`` and ``pos_above_other``: how often
    the positive scores above its hard negative and above the other image's caption;
    ``rank_acc``: their mean, the ordering that re-ranking needs (it selects the epoch and the
    learning rate: accuracy stays at 2/3 while a re-ranker says "no match" to everything).
    """
    y = y.reshape(-1)
    if out.dim() != 2 or out.size(0) % 3 or out.size(0) != y.numel() or not (y.view(-1, 3) == y.new_tensor([1, 0, 0])).all():
        raise ValueError(f"re-ranker validation: expected (positive, hard negative, other) triples with labels 1, 0, 0, "
                         f"got outputs of shape {tuple(out.shape)} and {y.numel()} labels")
    score = (out[:, 1] - out[:, 0]).view(-1, 3)
    metrics = classification_metrics(out, y)
    metrics["pos_above_hard"] = float((score[:, 0] > score[:, 1]).float().mean())
    metrics["pos_above_other"] = float((score[:, 0] > score[:, 2]).float().mean())
    metrics["rank_acc"] = 0.5 * (metrics["pos_above_hard"] + metrics["pos_above_other"])
    return metrics
