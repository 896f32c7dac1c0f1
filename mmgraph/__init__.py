"""mmgraph: graph-based multimodal fusion on PyTorch Geometric."""

from mmgraph.data import Modality, ModalityBatch, MultimodalBatch, MultimodalSample, RawModality, collate
from mmgraph.graph import GraphBuilder, edges
from mmgraph import baselines, datasets, nn, train  # importing baselines and nn registers their models
from mmgraph.registry import get_model, list_models, register_model
from mmgraph.utils import seed_everything

__version__ = "0.1.0"

__all__ = [
    "Modality",
    "ModalityBatch",
    "MultimodalBatch",
    "MultimodalSample",
    "RawModality",
    "collate",
    "GraphBuilder",
    "edges",
    "nn",
    "datasets",
    "train",
    "baselines",
    "get_model",
    "list_models",
    "register_model",
    "seed_everything",
    "__version__",
]
