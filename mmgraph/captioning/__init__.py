"""Caption generation over image graphs: a decoder attending over node states, and its metrics."""

from mmgraph.captioning.decoder import AttentionGRUDecoder, TransformerDecoder
from mmgraph.captioning.metrics import bleu4, caption_metrics, relation_em
from mmgraph.captioning.models import DEFAULT_DISTANCE_PRIOR, CaptionModel, caption_loss

__all__ = ["AttentionGRUDecoder", "TransformerDecoder", "CaptionModel", "caption_loss", "DEFAULT_DISTANCE_PRIOR", "bleu4", "relation_em", "caption_metrics"]
