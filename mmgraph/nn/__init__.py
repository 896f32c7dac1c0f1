"""Neural building blocks: layers, the heterogeneous GNN, encoders, readouts, heads, models."""

from mmgraph.nn.conv import GCNLayer, RelationalConv, TypedRelationalConv
from mmgraph.nn.cross_attention import CrossAttentionBlock
from mmgraph.nn.distance_prior import distance_prior, init_distance_prior
from mmgraph.nn.extractors import GridCNN
from mmgraph.nn.encoders import ModalityEncoders, masked_mean
from mmgraph.nn.film import FiLM, ModalityFiLM
from mmgraph.nn.fusion_model import FusionModel, FusionOptions
from mmgraph.nn.graph_extractor import GraphExtractor
from mmgraph.nn.heads import MLP, TASKS, ClassificationHead, EmbeddingHead, RegressionHead, make_head
from mmgraph.nn.hetero_gnn import CONVS, EdgeAttention, HeteroGNN, register_conv
from mmgraph.nn.models import GraphFusionModel, GraphFusionOutput
from mmgraph.nn.readout import POOLINGS, Readout

__all__ = [
    "GCNLayer",
    "RelationalConv",
    "TypedRelationalConv",
    "HeteroGNN",
    "EdgeAttention",
    "CONVS",
    "register_conv",
    "CrossAttentionBlock",
    "distance_prior",
    "init_distance_prior",
    "ModalityEncoders",
    "GridCNN",
    "FiLM",
    "ModalityFiLM",
    "GraphExtractor",
    "masked_mean",
    "Readout",
    "POOLINGS",
    "MLP",
    "ClassificationHead",
    "RegressionHead",
    "EmbeddingHead",
    "make_head",
    "TASKS",
    "FusionModel",
    "FusionOptions",
    "GraphFusionModel",
    "GraphFusionOutput",
]
