"""mmgraph: graph-based multimodal fusion on PyTorch Geometric.

``import mmgraph`` is cheap: the names below are imported on first use (PEP 562), so the
command line answers ``mmgraph --help`` without loading torch, and scikit-learn,
matplotlib and nltk load only in the functions that need them. ``from mmgraph import X`` and
``mmgraph.X`` work for every name of ``__all__``; the built-in models register themselves on
the first :func:`list_models`/:func:`get_model` call.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers and the API reference
    from mmgraph import baselines, captioning, datasets, features, nn, retrieval, train, viz
    from mmgraph.data import Modality, ModalityBatch, MultimodalBatch, MultimodalSample, RawItem, RawModality, collate
    from mmgraph.graph import GraphBuilder, GraphCollate, edges
    from mmgraph.registry import get_model, list_models, register_model
    from mmgraph.utils import seed_everything

__version__ = "0.1.0"

#: Public names defined in a submodule: ``name -> module``.
_ATTRIBUTES = {
    **dict.fromkeys(("Modality", "ModalityBatch", "MultimodalBatch", "MultimodalSample", "RawModality", "RawItem",
                     "collate"), "mmgraph.data"),
    **dict.fromkeys(("GraphBuilder", "GraphCollate"), "mmgraph.graph"),
    "edges": "mmgraph.graph",
    **dict.fromkeys(("get_model", "list_models", "register_model"), "mmgraph.registry"),
    "seed_everything": "mmgraph.utils",
}
#: Subpackages reachable as ``mmgraph.<name>`` without importing them first.
_SUBMODULES = ("nn", "datasets", "train", "viz", "retrieval", "captioning", "features", "baselines", "data", "graph",
               "registry", "utils", "bench", "cli")


def __getattr__(name: str) -> Any:
    """Import ``name`` (a public name or a subpackage) on first use, then keep it in the module."""
    if name in _ATTRIBUTES:
        value = getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"mmgraph.{name}")
    else:
        raise AttributeError(f"module 'mmgraph' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ATTRIBUTES) | set(_SUBMODULES))


__all__ = [
    "Modality",
    "ModalityBatch",
    "MultimodalBatch",
    "MultimodalSample",
    "RawModality",
    "RawItem",
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
