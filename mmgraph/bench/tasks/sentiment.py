"""Synthetic multimodal sentiment (CMU-MOSI-shaped) as a benchmark task."""

from __future__ import annotations

from typing import Any, Optional

from torch import Tensor

from mmgraph.bench.tasks.base import Example
from mmgraph.bench.tasks.task import Task
from mmgraph.data.batch import collate
from mmgraph.datasets.sentiment import MODALITIES, SentimentConfig, sentiment_splits
from mmgraph.graph import GraphBuilder, edges
from mmgraph.train.metrics import mosi_metrics

__all__ = ["SentimentTask"]


class SentimentTask(Task):
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

    metric_names = ("acc2", "f1", "acc7", "mae", "corr") + tuple(f"acc2_without_{m}" for m in sorted(MODALITIES))
    MODELS = ("graph-relational", "graph-gat", "graph-gatv2", "graph-gcn", "attention", "concat", "late", "tensor")

    # 1,284 training utterances: small batches give enough steps per epoch.
    SETTINGS = {"epochs": 20, "lrs": (3e-4, 1e-3, 3e-3), "sweep_epochs": 5, "batch_size": 32}

    FULL = (1284, 229, 686)
    QUICK = (200, 60, 60)

    def __init__(
        self,
        sizes: Optional[tuple[int, int, int]] = None,
        config: Optional[SentimentConfig] = None,
        modality_dropout: float = 0.15,
    ) -> None:
        default = 0.15
        renamed = isinstance(modality_dropout, (int, float)) and not isinstance(modality_dropout, bool) \
            and modality_dropout != default
        super().__init__(
            # a subclass may rename the task; another dropout is another task (its runs are not mixed)
            type(self).name or ("sentiment" + (f"-dropout{modality_dropout:g}" if renamed else "")),
            kind="regression", out_dim=1, builder=self._graph(), query="text", metrics=mosi_metrics,
            monitor="mae", models=self.MODELS, settings=self.SETTINGS, modality_dropout=modality_dropout,
            ablations=("acc2",),
        )
        self.sizes = sizes
        self.cfg = config or SentimentConfig()

    def load(self, quick: bool, seed: int = 0) -> None:
        self.sizes = self.sizes or (self.QUICK if quick else self.FULL)
        data = sentiment_splits(*self.sizes, seed=seed, config=self.cfg)
        self.set_splits(data["train"], data["val"], data["test"])

    def config(self) -> dict[str, Any]:
        return {"utterances": dict(zip(("train", "val", "test"), self.sizes or self.FULL)),
                "modality_dropout": self.modality_dropout,
                "generator": {k: v for k, v in vars(self.cfg).items()}}

    def in_dims(self) -> dict[str, int]:
        return {"audio": self.cfg.audio_dim, "face": self.cfg.face_dim, "text": self.cfg.text_dim}

    @staticmethod
    def _graph() -> GraphBuilder:
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
