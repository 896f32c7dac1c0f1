"""mmgraph: graph-based multimodal fusion on PyTorch Geometric."""

from mmgraph.data import Modality, ModalityBatch, MultimodalBatch, MultimodalSample, RawModality, collate
from mmgraph.graph import GraphBuilder, GraphCollate, edges
from mmgraph import baselines, captioning, datasets, nn, retrieval, train  # importing them registers their models
from mmgraph.registry import get_model, list_models, register_model
from mmgraph.utils import seed_everything

__version__ = "0.1.0"


def __getattr__(name: str):  # noqa: ANN202 - module-level lazy import
    """``mg.viz`` (it loads matplotlib) and ``mg.features`` are imported on first use."""
    if name in ("viz", "features"):
        import importlib

        return importlib.import_module(f"mmgraph.{name}")
    raise AttributeError(f"module 'mmgraph' has no attribute {name!r}")

__all__ = [
    "Modality",
    "ModalityBatch",
    "MultimodalBatch",
    "MultimodalSample",
    "RawModality",
    "collate",
    "GraphBuilder",
    "GraphCollate",
    "edges",
    "nn",
    "datasets",
    "train",
    "viz",
    "retrieval",
    "captioning",
    "features",
    "baselines",
    "get_model",
    "list_models",
    "register_model",
    "seed_everything",
    "__version__",
]
