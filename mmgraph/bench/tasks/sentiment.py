"""Synthetic multimodal sentiment (CMU-MOSI-shaped) as a benchmark task."""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn

from mmgraph.bench.tasks.base import Batches, BenchTask, Example
from mmgraph.data.batch import collate
from mmgraph.data.sample import MultimodalSample
from mmgraph.datasets.sentiment import MODALITIES, SentimentConfig, sentiment_splits
from mmgraph.graph import GraphBuilder, edges

__all__ = ["SentimentTask"]


class SentimentTask(BenchTask):
    r"""Regress the sentiment score in :math:`[-3, 3]`; report MOSI metrics, also with each modality removed.

    Modalities ``text`` (word embeddings), ``face`` (3×3 patches of every video frame,
    with ``pos`` and ``time``) and ``audio`` (prosody frames), each time-stamped at its
    own rate. ``acc2_without_<m>`` is Acc-2 on the test set with modality ``m`` removed
    from every sample at test time (models are trained with all modalities).

    Graph models get the same graph: token sequence edges (window 2), audio frame sequence
    edges, the face patches of each frame linked to each other, the words linked to the
    audio frames and face patches whose time spans overlap theirs (this is where the
    modalities are aligned), and a fusion node. (Linking patches across neighbouring frames, or face to audio, as well would
    triple the edges: time runs through the sequences and the text-centred cross edges,
    and every sentiment cue is tied to a word.)

    Args:
        sizes: ``(train, val, test)`` utterances; default 1,284 / 229 / 686 as CMU-MOSI
            (quick: 200 / 60 / 60).
        config: Generator settings (:class:`~mmgraph.datasets.SentimentConfig`).
        modality_dropout: Probability that training removes a modality from a sample (so
            that every model learns to do without any one of them; test data is complete).
    """

    name = "sentiment"
    task = "regression"
    out_dim = 1
    monitor = "mae"
    mode = "min"
    metric_names = ("acc2", "f1", "acc7", "mae", "corr") + tuple(f"acc2_without_{m}" for m in sorted(MODALITIES))
    default_models = ("graph-relational", "graph-gat", "graph-gatv2", "graph-gcn", "attention", "concat", "late", "tensor")

    # 1,284 training utterances: small batches give enough steps per epoch.
    full_settings = {"epochs": 20, "lrs": (3e-4, 1e-3, 3e-3), "sweep_epochs": 5, "batch_size": 32}

    FULL = (1284, 229, 686)
    QUICK = (200, 60, 60)

    def __init__(
        self,
        sizes: Optional[tuple[int, int, int]] = None,
        config: Optional[SentimentConfig] = None,
        modality_dropout: float = 0.15,
    ) -> None:
        if isinstance(modality_dropout, bool) or not isinstance(modality_dropout, (int, float)) or not 0 <= modality_dropout < 1:
            raise ValueError(f"modality_dropout: expected a probability in [0, 1), got {modality_dropout!r}")
        self.modality_dropout = float(modality_dropout)
        self.sizes = sizes
        self.cfg = config or SentimentConfig()
        self.data: dict[str, list[MultimodalSample]] = {}

    def load(self, quick: bool, seed: int = 0) -> None:
        self.sizes = self.sizes or (self.QUICK if quick else self.FULL)
        self.data = sentiment_splits(*self.sizes, seed=seed, config=self.cfg)

    def config(self) -> dict[str, Any]:
        return {"utterances": dict(zip(("train", "val", "test"), self.sizes or self.FULL)),
                "modality_dropout": self.modality_dropout,
                "generator": {k: v for k, v in vars(self.cfg).items()}}

    def in_dims(self) -> dict[str, int]:
        return {"audio": self.cfg.audio_dim, "face": self.cfg.face_dim, "text": self.cfg.text_dim}

    def builder(self) -> GraphBuilder:
        return GraphBuilder(
            intra={
                "text": edges.Sequential(window=2),
                "audio": edges.Sequential(window=1),
                "face": edges.TemporalOverlap(),  # the patches of one frame
            },
            cross={
                ("text", "audio"): edges.TemporalOverlap(),
                ("text", "face"): edges.TemporalOverlap(),
            },
            fusion_node=True,
        )

    def model_kwargs(self, name: str, hidden: int) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if name.startswith("graph-"):
            kwargs["builder"] = self.builder()
        if name in ("attention", "rn"):
            kwargs["query"] = "text"
        return kwargs

    def batches(self, split: str, batch_size: int, shuffle: bool, seed: int = 0, without: tuple[str, ...] = ()) -> Batches:
        """Batches of ``split``; ``without`` removes modalities from every sample.

        Training batches (``split="train"``, ``shuffle=True``) apply modality dropout: each
        modality of each sample is removed with probability :attr:`modality_dropout` (never
        all of a sample's modalities), drawn from the batches' own seeded generator, the same
        for every model.
        """
        samples = self.data[split]
        dropout = self.modality_dropout if split == "train" and shuffle else 0.0
        generator = torch.Generator().manual_seed(seed + 7919)

        def make(idx: torch.Tensor):  # -> MultimodalBatch
            chosen = [samples[int(i)] for i in idx]
            if dropout > 0:
                chosen = [_drop_modalities(s, dropout, generator) for s in chosen]
            batch = collate(chosen)
            removable = [m for m in without if m in batch.modalities]
            return batch.without(*removable) if removable and len(removable) < len(batch) else batch

        return Batches(make, len(samples), 1, batch_size, shuffle, seed)

    def num_samples(self, split: str) -> int:
        return len(self.data[split])

    def example(self, split: str, index: int) -> Example:
        """Utterance ``index`` of ``split`` with its words; the heat map shows text attending to audio."""
        sample = self.data[split][self._check_index(split, index)]
        labels = {m: list(sample[m].labels) for m in sample.modalities if sample[m].labels is not None}
        words = " ".join(labels.get("text", [])) or "(no text)"
        assert sample.y is not None
        truth = f"{float(sample.y.reshape(-1)[0]):+.2f}"
        return Example(collate([sample]), labels, None, words, truth, ("audio", "text", False))

    def describe(self, output: Tensor) -> str:
        return f"{float(output.detach().reshape(-1)[0]):+.2f}"

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str, batch_size: int) -> dict[str, float]:
        from mmgraph.train.fit import predict
        from mmgraph.train.metrics import mosi_metrics

        preds, targets = predict(model, self.batches(split, batch_size, shuffle=False))
        out = mosi_metrics(preds.reshape(-1), targets.reshape(-1))
        for m in sorted(MODALITIES):
            p, t = predict(model, self.batches(split, batch_size, shuffle=False, without=(m,)))
            out[f"acc2_without_{m}"] = mosi_metrics(p.reshape(-1), t.reshape(-1))["acc2"]
        return out


def _drop_modalities(sample: MultimodalSample, p: float, generator: torch.Generator) -> MultimodalSample:
    """``sample`` without each modality with probability ``p``, keeping at least one."""
    names = sample.modalities
    drop = [m for m, u in zip(names, torch.rand(len(names), generator=generator).tolist()) if u < p]
    if len(drop) == len(names):
        drop = drop[1:]
    return sample.without(*drop) if drop else sample

