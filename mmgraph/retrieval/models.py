"""Retrieval models: dual encoders (one tower per modality) and pairwise re-rankers.

Registered in the ``"retrieval"`` family (:func:`mmgraph.list_models("retrieval")`):

- ``dual-graph``: each modality encoded by its own intra-modal graph (a complete graph over
  image regions/objects with relative positions; a token graph with sequence edges), each with a
  fusion node, pooled to an embedding;
- ``dual-pooled``: the same inputs, each element encoded alone, mean- and max-pooled, then an MLP (no graph);
- ``rerank-graph``: the joint heterogeneous graph of one (image, caption) pair (both intra-modal
  graphs, every token linked to every region, a fusion node; messages conditioned on the
  caption) scores whether they match;
- ``rerank-attention``: a cross-attention re-ranker: the caption's tokens (with self-attention)
  attend to the regions, then a match score.
"""

from __future__ import annotations

import math
from typing import Any, Collection, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.nn.cross_attention import CrossAttentionBlock
from mmgraph.nn.distance_prior import init_distance_prior
from mmgraph.data.batch import MultimodalBatch
from mmgraph.graph import GraphBuilder, edges
from mmgraph.nn.encoders import masked_mean
from mmgraph.nn.fusion_model import check_positive_int
from mmgraph.nn.heads import make_head
from mmgraph.nn.models.graph_fusion import GraphFusionModel
from mmgraph.registry import register_model
from mmgraph.retrieval.clauses import ClauseReranker

__all__ = ["DualEncoder", "PooledTower", "CrossAttentionReranker", "PairGraphModel", "info_nce", "split_modalities"]


def split_modalities(in_dims: Mapping[str, int], text: str, what: str) -> tuple[str, str]:
    """``(image, text)`` modality names of a two-modality ``in_dims``; the image is the one that is not ``text``."""
    names = sorted(in_dims)
    if len(names) != 2 or text not in names:
        raise ValueError(f"{what}: expected in_dims with two modalities, one of them text={text!r}, got {names}")
    return next(n for n in names if n != text), text


def info_nce(out: Tensor, y: Tensor, temperature: float = 0.05) -> Tensor:
    r"""Symmetric contrastive (InfoNCE) loss of a batch of paired embeddings.

    With image embeddings :math:`u_i` and text embeddings :math:`v_j` (unit length), logits
    :math:`s_{ij} = u_i^\top v_j / \tau`, and positives :math:`P(i) = \{j : y_j = y_i\}` (pairs
    from the same image are not negatives of each other):

    .. math::

        \mathcal{L} = \tfrac12 \operatorname{mean}_i \Big[\log \sum_j e^{s_{ij}} - \log \sum_{j \in P(i)} e^{s_{ij}}\Big]
                    + \tfrac12 \operatorname{mean}_j \Big[\log \sum_i e^{s_{ij}} - \log \sum_{i \in P(j)} e^{s_{ij}}\Big]

    Args:
        out: :class:`DualEncoder` output, ``(B, 2, D)``: image then text embedding.
        y: ``(B,)`` image id of each pair.
        temperature: :math:`\tau`.
    """
    if out.dim() != 3 or out.size(1) != 2:
        raise ValueError(f"out: expected paired embeddings of shape (B, 2, D), got {tuple(out.shape)}")
    y = y.reshape(-1)
    if y.numel() != out.size(0):
        raise ValueError(f"y: expected one image id per pair ({out.size(0)}), got {y.numel()}")
    image, text = F.normalize(out[:, 0], dim=-1), F.normalize(out[:, 1], dim=-1)
    logits = image @ text.T / temperature
    positive = y.unsqueeze(1) == y.unsqueeze(0)
    masked = logits.masked_fill(~positive, float("-inf"))
    i2t = torch.logsumexp(logits, 1) - torch.logsumexp(masked, 1)
    t2i = torch.logsumexp(logits, 0) - torch.logsumexp(masked, 0)
    return 0.5 * (i2t.mean() + t2i.mean())


class DualEncoder(nn.Module):
    r"""Two towers, one per modality, mapping an (image, text) batch to paired unit embeddings.

    Each tower is a fusion model with ``task="embedding"`` over its one modality; the pair is
    scored by the cosine similarity of the two embeddings, so a gallery of either side is
    encoded once and searched with :class:`~mmgraph.retrieval.GalleryIndex`.

    Args:
        image_tower: Module over a batch holding only ``image``; returns ``(B, D)``.
        text_tower: Module over a batch holding only ``text``; returns ``(B, D)``.
        image: Name of the image modality.
        text: Name of the text modality.

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` with both modalities
        - **output:** :math:`(B, 2, D)`: image then text embedding, each of unit length
    """

    task = "retrieval"

    def __init__(self, image_tower: nn.Module, text_tower: nn.Module, image: str, text: str) -> None:
        super().__init__()
        self.image_tower, self.text_tower = image_tower, text_tower
        self.image, self.text = image, text

    def _only(self, batch: MultimodalBatch, name: str) -> MultimodalBatch:
        if not isinstance(batch, MultimodalBatch):
            raise ValueError(f"expected a MultimodalBatch, got {type(batch).__name__}")
        names = batch.modalities + list(batch.raw)
        if name not in names:
            raise ValueError(f"modality {name!r}: expected in the batch, got modalities {names}")
        others = [m for m in names if m != name]
        return batch.without(*others) if others else batch

    def encode_image(self, batch: MultimodalBatch) -> Tensor:
        """``(B, D)`` unit embeddings of the batch's image modality (the text, if any, is ignored)."""
        return F.normalize(self.image_tower(self._only(batch, self.image)), dim=-1)

    def encode_text(self, batch: MultimodalBatch) -> Tensor:
        """``(B, D)`` unit embeddings of the batch's text modality (the image, if any, is ignored)."""
        return F.normalize(self.text_tower(self._only(batch, self.text)), dim=-1)

    def forward(self, batch: MultimodalBatch) -> Tensor:
        return torch.stack([self.encode_image(batch), self.encode_text(batch)], dim=1)

    def __repr__(self) -> str:
        kind = type(self.image_tower).__name__
        return f"{type(self).__name__}({self.image!r}, {self.text!r}, towers={kind})"


class CrossAttentionReranker(nn.Module):
    r"""Score an (image, caption) pair: caption tokens attend to themselves, then to the image.

    Tokens :math:`t_i` and regions :math:`r_j` are encoded by linear maps to width :math:`H`.
    With ``local_window`` :math:`w > 0`, a convolution over the tokens first adds
    :math:`\mathrm{GELU}(\sum_{|k| \le w} W_k t_{i+k})` to each token (one weight per offset: the
    attention model's counterpart of ``rerank-graph``'s one-hot token-offset edges). Then
    ``num_layers`` Transformer encoder layers (self-attention with the padding mask) contextualise
    the tokens, ``num_layers`` :class:`~mmgraph.nn.cross_attention.CrossAttentionBlock` s let
    them attend over the regions (plus a learned null region), and the head scores
    :math:`[\operatorname{mean}(t); \operatorname{mean}(r)]`.

    Args:
        in_dims: ``{image: F_i, text: F_t}``.
        hidden: Width :math:`H`.
        out_dim: Outputs (2: no match / match).
        text: The text modality.
        num_layers: Self- and cross-attention layers.
        heads: Attention heads (must divide ``hidden``).
        dropout: Dropout.
        local_window: Offsets :math:`w` of the token convolution (``0``: none).

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` with both modalities
        - **output:** :math:`(B, \text{out\_dim})`
    """

    task = "classification"

    def __init__(
        self,
        in_dims: Mapping[str, int],
        hidden: int = 64,
        out_dim: int = 2,
        *,
        text: str = "caption",
        num_layers: int = 2,
        heads: int = 4,
        dropout: float = 0.0,
        local_window: int = 0,
    ) -> None:
        super().__init__()
        self.image, self.text = split_modalities(in_dims, text, "CrossAttentionReranker")
        check_positive_int(num_layers, "num_layers")
        if isinstance(local_window, bool) or not isinstance(local_window, int) or local_window < 0:
            raise ValueError(f"local_window: expected a non-negative int, got {local_window!r}")
        if hidden % heads != 0:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.in_dims = dict(in_dims)
        self.hidden = hidden
        self.encode = nn.ModuleDict({m: nn.Linear(d, hidden) for m, d in sorted(in_dims.items())})
        self.local_window = local_window
        self.local = nn.Conv1d(hidden, hidden, 2 * local_window + 1, padding=local_window) if local_window else None
        layer = nn.TransformerEncoderLayer(hidden, heads, 2 * hidden, dropout, batch_first=True, norm_first=True)
        self.self_attention = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.cross = nn.ModuleList([CrossAttentionBlock(hidden, heads, dropout) for _ in range(num_layers)])
        self.null = nn.Parameter(torch.zeros(1, 1, hidden))
        self.head = make_head("classification", 2 * hidden, out_dim, hidden=hidden, dropout=dropout)

    def forward(self, batch: MultimodalBatch) -> Tensor:
        if not isinstance(batch, MultimodalBatch):
            raise ValueError(f"expected a MultimodalBatch, got {type(batch).__name__}")
        for m in (self.image, self.text):
            if m not in batch.modalities:
                raise ValueError(f"modality {m!r}: expected in the batch, got modalities {batch.modalities}")
            if batch[m].x.size(-1) != self.in_dims[m]:
                raise ValueError(f"modality {m!r}: expected feature_dim {self.in_dims[m]} (in_dims), "
                                 f"got {batch[m].x.size(-1)}")
        t, r = batch[self.text], batch[self.image]
        tokens = self.encode[self.text](t.x)
        if self.local is not None:
            keep = t.mask.unsqueeze(-1).to(tokens.dtype)
            tokens = tokens + F.gelu(self.local((tokens * keep).transpose(1, 2)).transpose(1, 2)) * keep
        tokens = self.self_attention(tokens, src_key_padding_mask=~t.mask)
        regions = self.encode[self.image](r.x)
        context = torch.cat([self.null.expand(regions.size(0), -1, -1), regions], 1)
        pad = torch.cat([torch.zeros_like(r.mask[:, :1]), ~r.mask], 1)
        for block in self.cross:
            tokens, _ = block(tokens, context, pad)
        return self.head(torch.cat([masked_mean(tokens, t.mask), masked_mean(regions, r.mask)], -1))

    def __repr__(self) -> str:
        window = f", local_window={self.local_window}" if self.local_window else ""
        return f"{type(self).__name__}({self.text!r} attends to {self.image!r}, hidden={self.hidden}{window})"


def _widen(in_dims: Mapping[str, int], text: str, positions: int, name: str) -> dict[str, int]:
    """``in_dims`` with the text's width grown by the clause-position columns."""
    if isinstance(positions, bool) or not isinstance(positions, int) or positions < 0:
        raise ValueError(f"{name}: clause_positions: expected a non-negative int, got {positions!r}")
    return {**in_dims, text: in_dims[text] + positions}


def _masked_vocab(clauses: bool, masked_words: float, vocab: Optional[Sequence[str]], name: str) -> list[str]:
    """The words of the masked-word head (none when ``masked_words`` is 0)."""
    if isinstance(masked_words, bool) or not isinstance(masked_words, (int, float)) or masked_words < 0:
        raise ValueError(f"{name}: masked_words: expected a non-negative number, got {masked_words!r}")
    if not masked_words:
        return []
    if not clauses:
        raise ValueError(f"{name}: masked_words={masked_words!r} needs clauses=True, got clauses={clauses!r}")
    if not vocab:
        raise ValueError(f"{name}: masked_words={masked_words!r} needs vocab (the words to predict), got {vocab!r}")
    return list(vocab)


def _check_token_edges(token_edges: str, name: str) -> None:
    if token_edges not in edges.Sequential.ATTRS:
        raise ValueError(f"{name}: token_edges must be one of {list(edges.Sequential.ATTRS)}, got {token_edges!r}")


@register_model("dual-graph", family="retrieval")
def dual_graph(
    in_dims: Mapping[str, int],
    hidden: int = 64,
    out_dim: int = 64,
    *,
    text: str = "caption",
    num_layers: int = 2,
    window: int = 2,
    token_edges: str = "offset",
    extractors: Optional[Mapping[str, nn.Module]] = None,
) -> DualEncoder:
    """Dual encoder of two intra-modal graphs (``graph-relational`` towers), each with a fusion node.

    The image tower links its regions/objects completely with ``[dx, dy, distance]`` edge
    attributes; the text tower links tokens within ``window`` positions, with
    ``token_edges`` as the edges' attribute (``attr`` of :class:`~mmgraph.graph.edges.Sequential`). Node states are
    max-pooled: when samples share most of their elements, a mean readout gives nearly identical
    embeddings to begin with, which contrastive training can collapse.
    """
    _check_token_edges(token_edges, "dual-graph")
    image, text = split_modalities(in_dims, text, "dual-graph")
    ex = dict(extractors or {})
    towers = {}
    for m, strategy in ((image, edges.Full(attr="pos")), (text, edges.Sequential(window=window, attr=token_edges))):
        builder = GraphBuilder(intra={m: strategy}, fusion_node=True)
        towers[m] = GraphFusionModel({m: in_dims[m]}, hidden, out_dim, builder=builder, conv="relational",
                                     num_layers=num_layers, task="embedding", readout="max",
                                     extractors={m: ex[m]} if m in ex else None)
    return DualEncoder(towers[image], towers[text], image, text)


class PooledTower(nn.Module):
    r"""Encode each element alone, pool, then an MLP: a tower without a graph.

    :math:`h_i = \mathrm{MLP}_{\text{elem}}(x_i)` (``depth`` layers of Linear, LayerNorm, GELU),
    :math:`z = [\operatorname{mean}_i h_i; \max_i h_i]` over real elements, output
    :math:`\mathrm{MLP}(z)` (2 layers), :math:`\ell_2`-normalised.

    Args:
        modality: The modality it encodes.
        in_dim: Its feature width.
        hidden: Width :math:`H`.
        out_dim: Embedding width.
        depth: Element-MLP layers.

    Shapes:
        - **input:** a :class:`~mmgraph.MultimodalBatch` with ``modality``
        - **output:** :math:`(B, \text{out\_dim})`
    """

    def __init__(self, modality: str, in_dim: int, hidden: int, out_dim: int, depth: int = 2) -> None:
        super().__init__()
        self.modality, self.in_dim = modality, in_dim
        layers: list[nn.Module] = []
        for i in range(check_positive_int(depth, "depth")):
            layers += [nn.Linear(in_dim if i == 0 else hidden, hidden), nn.LayerNorm(hidden), nn.GELU()]
        self.element = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def forward(self, batch: MultimodalBatch) -> Tensor:
        if self.modality not in batch.modalities:
            raise ValueError(f"modality {self.modality!r}: expected in the batch, got modalities {batch.modalities}")
        m = batch[self.modality]
        if m.x.size(-1) != self.in_dim:
            raise ValueError(f"modality {self.modality!r}: expected feature_dim {self.in_dim} (in_dims), got {m.x.size(-1)}")
        h = self.element(m.x)
        top = h.masked_fill(~m.mask.unsqueeze(-1), float("-inf")).amax(1).nan_to_num(0.0, neginf=0.0)
        return F.normalize(self.head(torch.cat([masked_mean(h, m.mask), top], -1)), dim=-1)


@register_model("dual-pooled", family="retrieval")
def dual_pooled(
    in_dims: Mapping[str, int],
    hidden: int = 64,
    out_dim: int = 64,
    *,
    text: str = "caption",
    depth: int = 2,
) -> DualEncoder:
    """Dual encoder without a graph: :class:`PooledTower` s (elements encoded alone, mean- and max-pooled, an MLP)."""
    image, text = split_modalities(in_dims, text, "dual-pooled")
    towers = {m: PooledTower(m, in_dims[m], hidden, out_dim, depth=depth) for m in (image, text)}
    return DualEncoder(towers[image], towers[text], image, text)


class PairGraphModel(GraphFusionModel):
    """A :class:`~mmgraph.nn.GraphFusionModel` that scores pairs: both modalities must be present."""

    def __init__(self, *args: Any, pair: tuple[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pair = pair

    def forward(self, batch: MultimodalBatch, *args: Any, **kwargs: Any) -> Any:
        if isinstance(batch, MultimodalBatch):
            names = batch.modalities + list(batch.raw)
            for m in self.pair:
                if m not in names:
                    raise ValueError(f"modality {m!r}: expected in the batch (a pair needs both), got modalities {names}")
        return super().forward(batch, *args, **kwargs)


@register_model("rerank-graph", family="retrieval")
def rerank_graph(
    in_dims: Mapping[str, int],
    hidden: int = 64,
    out_dim: int = 2,
    *,
    text: str = "caption",
    num_layers: int = 2,
    window: int = 2,
    token_edges: str = "onehot",
    cross: bool = True,
    clauses: bool = False,
    clause_positions: int = 16,
    masked_words: float = 0.0,
    vocab: Optional[Sequence[str]] = None,
    maskable: Optional[Collection[str]] = None,
    extractors: Optional[Mapping[str, nn.Module]] = None,
    gate_init: Optional[float] = None,
    select_heads: int = 1,
    source_heads: int = 0,
    distance_prior: float = 0.0,
) -> nn.Module:
    """Re-ranker over the joint graph of one pair: both intra-modal graphs, tokens ↔ regions, a fusion node.

    A ``graph-relational`` model whose messages are conditioned on the caption. Token edges
    (within ``window`` positions) carry a one-hot of their offset (``token_edges="onehot"``, see
    :class:`~mmgraph.graph.edges.Sequential`), so a word's state can tell the word just before it
    from the one just after it (``"offset"`` gives the signed scalar offset instead).

    With ``clauses=True`` the caption is split at its ``";"`` tokens and every (image,
    statement) pair gets its own joint graph; the pair's score is the soft minimum of the
    statements' (:class:`~mmgraph.retrieval.ClauseReranker`, ``clause_positions`` one-hot
    columns of the token's index in its statement added to its features); ``masked_words > 0``
    adds the masked-word loss over ``vocab`` (words in ``maskable``) with that weight.
    ``cross=False`` leaves out the token ↔ region edges: the caption then reaches the image
    only through the fusion node and the caption-conditioned messages. ``gate_init`` starts the
    relational layers' edge gates at ``sigmoid(gate_init)`` (``None``: their default
    initialisation; see :meth:`~mmgraph.nn.RelationalConv.init_gates`). ``select_heads`` softmax
    heads, the last ``source_heads`` of them selecting over each source's edges; with
    ``distance_prior`` :math:`C > 0` the first two target (and source) heads on the image's edges
    start on each object's closest and furthest neighbour
    (:func:`~mmgraph.nn.distance_prior.init_distance_prior`).
    """
    _check_token_edges(token_edges, "rerank-graph")
    if distance_prior and select_heads - source_heads < 2:
        raise ValueError(f"rerank-graph: distance_prior: needs at least 2 target heads (select_heads - source_heads), "
                         f"got select_heads={select_heads}, source_heads={source_heads}")
    if not isinstance(cross, bool):
        raise ValueError(f"rerank-graph: cross: expected a bool, got {cross!r}")
    image, text = split_modalities(in_dims, text, "rerank-graph")
    words = _masked_vocab(clauses, masked_words, vocab, "rerank-graph")
    if clauses:
        inner = rerank_graph(_widen(in_dims, text, clause_positions, "rerank-graph"), hidden, out_dim + len(words),
                             text=text, num_layers=num_layers, window=window, token_edges=token_edges, cross=cross,
                             extractors=extractors, gate_init=gate_init, select_heads=select_heads,
                             source_heads=source_heads, distance_prior=distance_prior)
        return ClauseReranker(inner, text=text, positions=clause_positions, vocab=words or None,
                              masked_words=masked_words, maskable=maskable)
    builder = GraphBuilder(
        intra={image: edges.Full(attr="pos"), text: edges.Sequential(window=window, attr=token_edges)},
        cross={(text, image): edges.Full()} if cross else None,
        fusion_node=True,
    )
    model = PairGraphModel(dict(in_dims), hidden, out_dim, builder=builder, conv="relational", num_layers=num_layers,
                           condition=text, task="classification", extractors=extractors, pair=(image, text),
                           gate_init=gate_init, select_heads=select_heads, source_heads=source_heads)
    if distance_prior:
        init_distance_prior(model, distance_prior, (image, "intra", image))
    return model


@register_model("rerank-attention", family="retrieval")
def rerank_attention(
    in_dims: Mapping[str, int],
    hidden: int = 64,
    out_dim: int = 2,
    *,
    text: str = "caption",
    num_layers: int = 2,
    heads: int = 4,
    local_window: int = 0,
    clauses: bool = False,
    clause_positions: int = 16,
    masked_words: float = 0.0,
    vocab: Optional[Sequence[str]] = None,
    maskable: Optional[Collection[str]] = None,
) -> nn.Module:
    """Cross-attention re-ranker (:class:`CrossAttentionReranker`).

    ``clauses=True`` scores the caption statement by statement and ``masked_words`` adds the
    masked-word loss, as for ``rerank-graph`` (:class:`~mmgraph.retrieval.ClauseReranker`).
    """
    heads = math.gcd(hidden, heads)
    words = _masked_vocab(clauses, masked_words, vocab, "rerank-attention")
    if clauses:
        image, text = split_modalities(in_dims, text, "rerank-attention")
        inner = CrossAttentionReranker(_widen(in_dims, text, clause_positions, "rerank-attention"), hidden,
                                       out_dim + len(words), text=text, num_layers=num_layers, heads=heads,
                                       local_window=local_window)
        return ClauseReranker(inner, text=text, positions=clause_positions, vocab=words or None,
                              masked_words=masked_words, maskable=maskable)
    return CrossAttentionReranker(in_dims, hidden, out_dim, text=text, num_layers=num_layers, heads=heads,
                                  local_window=local_window)
