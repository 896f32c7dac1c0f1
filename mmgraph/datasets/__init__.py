"""Procedurally generated benchmark datasets (deterministic under a seed; nothing is downloaded)."""

from mmgraph.datasets.captions import Caption, Fact, caption_dataset, scene_captions, scene_facts
from mmgraph.datasets.sentiment import SentimentConfig, generate_sentiment, sentiment_splits
from mmgraph.datasets.sort_of_clevr import SortOfCLEVR, sort_of_clevr_splits

__all__ = [
    "SortOfCLEVR",
    "sort_of_clevr_splits",
    "SentimentConfig",
    "generate_sentiment",
    "sentiment_splits",
    "scene_captions",
    "scene_facts",
    "caption_dataset",
    "Caption",
    "Fact",
]
