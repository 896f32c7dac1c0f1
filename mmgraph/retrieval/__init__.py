"""Cross-modal retrieval: dual encoders and re-rankers, a gallery index queried in batches, Recall@K."""

from mmgraph.retrieval.clauses import ClauseReranker, split_clauses
from mmgraph.retrieval.index import GalleryIndex
from mmgraph.retrieval.metrics import retrieval_metrics
from mmgraph.retrieval.models import CrossAttentionReranker, DualEncoder, info_nce
from mmgraph.retrieval.rerank import rerank

__all__ = ["GalleryIndex", "retrieval_metrics", "DualEncoder", "CrossAttentionReranker", "ClauseReranker",
           "split_clauses", "info_nce", "rerank"]
