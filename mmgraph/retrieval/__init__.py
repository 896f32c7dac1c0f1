"""Cross-modal retrieval: index a gallery of embeddings, query it in batches, score Recall@K."""

from mmgraph.retrieval.index import GalleryIndex
from mmgraph.retrieval.metrics import retrieval_metrics

__all__ = ["GalleryIndex", "retrieval_metrics"]
