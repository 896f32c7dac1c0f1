"""Caption generation over image graphs: a decoder attending over node states, and its metrics."""

from mmgraph.captioning.decoder import AttentionGRUDecoder, TransformerDecoder
from mmgraph.captioning.metrics import bleu4, caption_metrics, relation_em
from mmgraph.captioning.models import CaptionModel, caption_loss

__all__ = ["AttentionGRUDecoder", "TransformerDecoder", "CaptionModel", "caption_loss", "bleu4", "relation_em", "caption_metrics"]
