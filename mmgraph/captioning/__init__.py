"""Caption generation over image graphs: a decoder attending over node states, and its metrics."""

from mmgraph.captioning.decoder import AttentionGRUDecoder, TransformerDecoder
from mmgraph.captioning.metrics import bleu4, caption_metrics, relation_em
from mmgraph.captioning.models import CAPTION_GRAPH_DEFAULTS, CaptionModel, caption_loss

__all__ = ["AttentionGRUDecoder", "TransformerDecoder", "CaptionModel", "caption_loss", "CAPTION_GRAPH_DEFAULTS", "bleu4", "relation_em", "caption_metrics"]
