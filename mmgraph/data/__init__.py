"""Containers for modality inputs (:class:`Modality`, :class:`MultimodalSample`, batches), datasets and loaders."""

from mmgraph.data.batch import ModalityBatch, MultimodalBatch, collate
from mmgraph.data.dataset import MultimodalDataset
from mmgraph.data.loader import GroupedBatchSampler, MultimodalLoader
from mmgraph.data.modality import Modality
from mmgraph.data.raw import RawItem, RawModality
from mmgraph.data.sample import MultimodalSample
from mmgraph.data.text import Vocabulary, tokenize

__all__ = ["Modality", "MultimodalSample", "ModalityBatch", "MultimodalBatch", "RawModality", "RawItem", "collate",
           "MultimodalDataset", "GroupedBatchSampler", "MultimodalLoader", "Vocabulary", "tokenize"]
