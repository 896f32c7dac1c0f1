"""Captioning models: an image encoder giving memory vectors, and :class:`AttentionGRUDecoder` over them.

Registered in the ``"captioning"`` family:

- ``caption-graph``: the decoder attends over the node states of the image graph (regions or
  objects linked completely with ``[dx, dy, distance]`` edge attributes, relational message
  passing, as :class:`~mmgraph.nn.GraphExtractor`);
- ``caption-pooled``: the same decoder conditioned on the mean of the encoded regions/objects
  (one memory vector, no graph).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.captioning.decoder import AttentionGRUDecoder, TransformerDecoder
from mmgraph.data.batch import ModalityBatch, MultimodalBatch
from mmgraph.graph import edges
from mmgraph.nn.encoders import masked_mean
from mmgraph.nn.distance_prior import init_distance_prior
from mmgraph.nn.graph_extractor import GraphExtractor
from mmgraph.registry import register_model

__all__ = ["CaptionModel", "caption_loss", "CAPTION_GRAPH_DEFAULTS"]

#: How the registered ``caption-graph`` sets up its relational layers unless told otherwise (see
#: :class:`CaptionModel`): 2 target heads and 2 source heads, both pairs starting on the closest and
#: the furthest neighbour, and the gates closed, so that each node starts from exactly what it and its
#: neighbours selected (docs/probes.md, "Seed reliability of the graph caption decoder").
CAPTION_GRAPH_DEFAULTS: Mapping[str, float] = MappingProxyType(
    {"select_heads": 4, "source_heads": 2, "distance_prior": 100.0, "gate_init": -10.0})


class _Given(nn.Module):
    """Placeholder extractor of :class:`GraphExtractor` when elements come ready (state descriptions)."""

    def __init__(self, out_dim: int) -> None:
        super().__init__()
        self.out_dim = out_dim


def caption_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Token cross-entropy of teacher-forced ``logits (B, T, V)`` against ``y[:, 1:]`` (padding ``0`` ignored)."""
    target = y[:, 1 : 1 + logits.size(1)]
    return F.nll_loss(logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=0)


class CaptionModel(nn.Module):
    r"""Caption an image: encode it into memory vectors, then decode tokens attending over them.

    The image modality is either ready elements (``batch[image]``, e.g. objects from state
    descriptions, with ``pos``) or raw input turned into elements by ``extractor`` (e.g. a
    :class:`~mmgraph.nn.GridCNN` on pixels, with ``pos``). Elements are mapped to width
    ``hidden``; with ``graph=True`` a relational GNN over the complete graph of each image's
    elements gives one memory vector per element, else their masked mean is the single memory
    vector.

    ``forward`` is teacher forcing: the targets ``batch.y`` (``(B, T + 1)``: ``bos``, tokens,
    ``eos``, padding ``0``) also give the decoder's inputs ``y[:, :-1]``.

    Args:
        in_dim: Width of the image elements.
        vocab_size: Number of tokens.
        hidden: Width of the memory and of the decoder.
        image: Name of the image modality.
        graph: Attend over graph node states (``True``) or one pooled vector (``False``).
        extractor: Optional module from the raw modality to elements.
        num_layers: GNN layers (``graph=True``).
        select_heads: Softmax heads of the relational convolution.
        source_heads: How many of the ``select_heads`` (the last ones) select over each
            element's outgoing edges, so that an element learns which elements selected it
            (:class:`~mmgraph.nn.RelationalConv`); ``0``: none.
        max_len: Longest generated caption, in tokens (with ``eos``).
        bos: Begin token id.
        eos: End token id.
        decoder: ``"transformer"`` (:class:`~mmgraph.captioning.TransformerDecoder`) or ``"gru"``
            (:class:`~mmgraph.captioning.AttentionGRUDecoder`).
        decoder_layers: Layers of the Transformer decoder.
        decoder_heads: Attention heads of the Transformer decoder.
        distance_prior: With ``graph=True``, start the first two softmax heads of every relational
            layer scoring neighbours by :math:`-C d` and :math:`+C d` (:math:`C` = ``distance_prior``,
            :math:`d` the distance): each node starts by reading its closest and its furthest
            neighbour (:meth:`~mmgraph.nn.RelationalConv.init_edge_scores`); the first two source
            heads start the same way, so each node also reads the nodes whose closest and
            furthest it is. ``0``: no prior.
        gate_init: With ``graph=True``, start every relational layer's gates at
            :math:`\sigma(\text{gate\_init})` (:meth:`~mmgraph.nn.RelationalConv.init_gates`); a
            large negative value starts each node from its softmax selections alone. ``None``:
            the layers' default initialisation.

    The registered ``caption-graph`` uses :data:`CAPTION_GRAPH_DEFAULTS` for ``select_heads``,
    ``source_heads``, ``distance_prior`` and ``gate_init`` unless told otherwise.

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` with the image modality and ``y`` :math:`(B, T + 1)`
        - **output:** log-probabilities :math:`(B, T, V)`
    """

    task = "captioning"

    def __init__(
        self,
        in_dim: int,
        vocab_size: int,
        hidden: int = 64,
        *,
        image: str = "objects",
        graph: bool = True,
        extractor: Optional[nn.Module] = None,
        num_layers: int = 2,
        select_heads: int = 2,
        max_len: int = 32,
        bos: int = 1,
        eos: int = 2,
        decoder: str = "transformer",
        decoder_layers: int = 2,
        decoder_heads: int = 4,
        distance_prior: float = 0.0,
        source_heads: int = 0,
        gate_init: Optional[float] = None,
    ) -> None:
        super().__init__()
        if gate_init is not None and not graph:
            raise ValueError(f"gate_init: needs graph=True (the relational layers' gates), got graph={graph}")
        self.image, self.graph, self.max_len, self.in_dim = image, graph, max_len, in_dim
        self.extractor = extractor
        if graph:
            self.encoder: nn.Module = GraphExtractor(_Given(in_dim), edges.Full(attr="pos"), hidden,
                                                     num_layers=num_layers, select_heads=select_heads,
                                                     source_heads=source_heads, gate_init=gate_init)
        else:
            self.encoder = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.distance_prior = float(distance_prior)
        if distance_prior:
            if not graph or select_heads - source_heads < 2:
                raise ValueError(f"distance_prior: needs graph=True and at least 2 target heads (select_heads - "
                                 f"source_heads), got graph={graph}, select_heads={select_heads}, "
                                 f"source_heads={source_heads}")
            init_distance_prior(self.encoder, distance_prior)
        self.gate_init = gate_init
        if decoder == "gru":
            self.decoder: nn.Module = AttentionGRUDecoder(vocab_size, hidden, hidden, bos=bos, eos=eos)
        elif decoder == "transformer":
            self.decoder = TransformerDecoder(vocab_size, hidden, hidden, num_layers=decoder_layers, heads=decoder_heads,
                                              max_len=max_len, bos=bos, eos=eos)
        else:
            raise ValueError(f"decoder: expected 'gru' or 'transformer', got {decoder!r}")
        self.decoder_kind = decoder

    def elements(self, batch: MultimodalBatch) -> ModalityBatch:
        """The image's elements (from the batch, or from the extractor on the raw input)."""
        if not isinstance(batch, MultimodalBatch):
            raise ValueError(f"expected a MultimodalBatch, got {type(batch).__name__}")
        batch = batch.cast(next(self.decoder.parameters()).dtype)  # features of any float dtype
        if self.image in batch.modalities:
            elements = batch[self.image]
        elif self.image in batch.raw and self.extractor is not None:
            elements = self.extractor(batch.raw[self.image])
        else:
            have = batch.modalities + list(batch.raw)
            raise ValueError(f"modality {self.image!r}: expected in the batch, got modalities {have}")
        if elements.x.size(-1) != self.in_dim:
            raise ValueError(f"modality {self.image!r}: expected feature_dim {self.in_dim}, got {elements.x.size(-1)}")
        if self.graph and elements.pos is None:
            raise ValueError(f"modality {self.image!r}: the image graph needs element positions (pos), got none")
        return elements

    def memory(self, batch: MultimodalBatch) -> tuple[Tensor, Tensor]:
        """``(memory (B, N, hidden), mask (B, N))`` the decoder attends over."""
        elements = self.elements(batch)
        if self.graph:
            return self.encoder.propagate(elements), elements.mask
        pooled = masked_mean(self.encoder(elements.x), elements.mask)
        return pooled.unsqueeze(1), torch.ones_like(elements.mask[:, :1])

    def forward(self, batch: MultimodalBatch) -> Tensor:
        memory, mask = self.memory(batch)
        y = batch.y
        if y is None or y.dim() != 2 or y.size(0) != memory.size(0) or y.size(1) < 2:
            got = None if y is None else tuple(y.shape)
            raise ValueError(f"y: expected target tokens (B={memory.size(0)}, T + 1 >= 2) for teacher forcing, got {got}")
        if self.decoder_kind == "transformer" and y.size(1) - 1 > self.max_len:
            raise ValueError(f"y: expected at most max_len + 1 = {self.max_len + 1} columns (the Transformer decoder "
                             f"has max_len={self.max_len} positions), got {y.size(1)}")
        return self.decoder(memory, mask, y[:, :-1].long())

    @torch.no_grad()
    def generate(self, batch: MultimodalBatch, beam_size: int = 1, max_len: Optional[int] = None) -> Tensor:
        """Token ids ``(B, max_len)`` by greedy (``beam_size=1``) or beam-search decoding."""
        memory, mask = self.memory(batch)
        return self.decoder.beam_search(memory, mask, max_len or self.max_len, beam_size=beam_size)

    def __repr__(self) -> str:
        kind = "graph" if self.graph else "pooled"
        return (f"{type(self).__name__}({self.image!r}, {kind}, decoder={self.decoder_kind!r}, "
                f"hidden={self.decoder.hidden}, vocab={self.decoder.vocab_size})")


class _Default:
    """A factory argument left unset: the registered model's own default."""

    def __repr__(self) -> str:
        return "default"


_DEFAULT: Any = _Default()


def _build(graph: bool):  # noqa: ANN202
    def build(
        in_dims: Mapping[str, int],
        hidden: int = 64,
        out_dim: Optional[int] = None,
        *,
        extractors: Optional[Mapping[str, nn.Module]] = None,
        num_layers: int = 2,
        max_len: int = 32,
        bos: int = 1,
        eos: int = 2,
        decoder: str = "transformer",
        select_heads: int = _DEFAULT,
        distance_prior: float = _DEFAULT,
        source_heads: int = _DEFAULT,
        gate_init: Optional[float] = _DEFAULT,
    ) -> CaptionModel:
        name = "caption-graph" if graph else "caption-pooled"
        if len(in_dims) != 1:
            raise ValueError(f"{name}: expected in_dims with the image modality only, got {sorted(in_dims)}")
        if out_dim is None:
            raise ValueError(f"{name}: out_dim: expected the vocabulary size (e.g. len(vocab)), got None")
        (image, dim), = in_dims.items()
        extractor = (extractors or {}).get(image)
        given = {"select_heads": select_heads, "source_heads": source_heads, "distance_prior": distance_prior,
                 "gate_init": gate_init}
        plain = {"select_heads": 2, "source_heads": 0, "distance_prior": 0.0, "gate_init": None}
        setup = {k: (CAPTION_GRAPH_DEFAULTS if graph else plain)[k] if v is _DEFAULT else v for k, v in given.items()}
        return CaptionModel(dim, out_dim, hidden, image=image, graph=graph, extractor=extractor,
                            num_layers=num_layers, max_len=max_len, bos=bos, eos=eos, decoder=decoder, **setup)

    build.__name__ = "caption_graph" if graph else "caption_pooled"
    build.__doc__ = (f"A :class:`CaptionModel` with ``graph={graph}``; ``out_dim`` is the vocabulary size; "
                     + ("select_heads, source_heads, distance_prior and gate_init not given: the values in "
                        ":data:`CAPTION_GRAPH_DEFAULTS`." if graph else "no graph, so no relational layers."))
    return build


register_model("caption-graph", family="captioning")(_build(True))
register_model("caption-pooled", family="captioning")(_build(False))
