"""See inside a graph fusion model: graphs, attention maps, modality importance (``mg.viz.*``).

Every plotting function returns a ``matplotlib.figure.Figure`` (created without pyplot, so
nothing is shown or kept open unless you ask) and accepts ``ax=`` to draw into your own axes.
"""

from mmgraph.viz.attention import attention_heatmap, attention_matrix, attention_rollout, plot_readout, readout_weights
from mmgraph.viz.draw import as_image, draw
from mmgraph.viz.explain import PANELS, dataset_importance, explain
from mmgraph.viz.importance import (
    EDGE_METHODS,
    MODALITY_METHODS,
    edge_type_importance,
    edge_type_name,
    modality_importance,
    plot_importance,
    summarize,
)
from mmgraph.viz.layout import modality_colors, modality_layout
from mmgraph.viz.networkx import to_networkx
from mmgraph.viz.select import select_example

__all__ = [
    "to_networkx",
    "draw",
    "as_image",
    "modality_layout",
    "modality_colors",
    "select_example",
    "attention_matrix",
    "attention_rollout",
    "attention_heatmap",
    "readout_weights",
    "plot_readout",
    "modality_importance",
    "edge_type_importance",
    "summarize",
    "plot_importance",
    "edge_type_name",
    "MODALITY_METHODS",
    "EDGE_METHODS",
    "explain",
    "dataset_importance",
    "PANELS",
]
