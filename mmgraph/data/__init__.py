"""Containers for modality inputs: :class:`Modality`, :class:`MultimodalSample`, batches."""

from mmgraph.data.batch import ModalityBatch, MultimodalBatch, collate
from mmgraph.data.modality import Modality
from mmgraph.data.raw import RawModality
from mmgraph.data.sample import MultimodalSample

__all__ = ["Modality", "MultimodalSample", "ModalityBatch", "MultimodalBatch", "RawModality", "collate"]
