"""k-nearest-neighbour search shared by SpatialKNN and FeatureKNN: dense for small samples, O(N k) for large ones.

Every path gives the same edges: the ``k`` best sources of each target by the strategy's exact
score, ties to the lower source index. Small samples are scored densely, batched over the
batch. Large samples are searched one at a time: positions with a KD-tree (scipy's
``cKDTree``, on the CPU) or chunked exact scores (bounded memory, any device); features by a
matrix product that proposes candidates, which are then re-scored exactly.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor

from mmgraph.data.batch import ModalityBatch
from mmgraph.graph.edges.base import Edges, check_edge_limit, select_k, sort_edges, stable_topk_mask, valid_pairs

__all__ = ["knn_edges", "DENSE_PAIRS", "CHUNK_ELEMENTS"]

#: Samples with at most this many (source, target) pairs are scored densely, batched.
DENSE_PAIRS = 1 << 16
#: Scores held at once by the chunked searches.
CHUNK_ELEMENTS = 1 << 22

#: ``dense(src_values (B, Ls, D), dst_values (B, Ld, D)) -> (B, Ls, Ld)`` scores.
DenseScore = Callable[[Tensor, Tensor], Tensor]
#: ``search(src_values (ns, D), dst_values (nd, D), k, same) -> (i, j)`` local indices.
Search = Callable[[Tensor, Tensor, int, bool], tuple[Tensor, Tensor]]


def knn_edges(
    src: ModalityBatch, dst: ModalityBatch, src_values: Tensor, dst_values: Tensor, same: bool, k: int,
    largest: bool, dense: DenseScore, search: Search, limit: Optional[int],
) -> Edges:
    """The ``k`` best sources of every target, per sample: ``(sample, i, j)`` sorted."""
    ls, ld = src.mask.size(1), dst.mask.size(1)
    if ls * ld <= DENSE_PAIRS:
        chosen = stable_topk_mask(dense(src_values, dst_values), valid_pairs(src, dst, same), k, largest)
        check_edge_limit(int(chosen.sum()), limit)
        g, i, j = chosen.nonzero(as_tuple=True)
        return g, i, j
    parts = []
    for b in range(src.mask.size(0)):
        si = src.mask[b].nonzero().squeeze(1)
        dj = dst.mask[b].nonzero().squeeze(1)
        if si.numel() == 0 or dj.numel() == 0:
            continue
        i, j = search(src_values[b, si], dst_values[b, dj], k, same)
        parts.append((torch.full_like(i, b), si[i], dj[j]))
    if not parts:
        empty = src.mask.new_zeros(0, dtype=torch.long)
        return empty, empty, empty
    g, i, j = (torch.cat(t) for t in zip(*parts))
    check_edge_limit(g.numel(), limit)
    return sort_edges(g, i, j, ls, ld)


def chunked_search(score: Callable[[Tensor, Tensor], Tensor], largest: bool) -> Search:
    """Exact search scoring ``(ns, chunk)`` pairs at a time (any device)."""

    def search(src: Tensor, dst: Tensor, k: int, same: bool) -> tuple[Tensor, Tensor]:
        ns, nd = src.size(0), dst.size(0)
        cols = max(1, CHUNK_ELEMENTS // max(1, ns * src.size(1)))
        out_i, out_j = [], []
        for c0 in range(0, nd, cols):
            s = score(src, dst[c0 : c0 + cols]).unsqueeze(0)  # (1, ns, C)
            allowed = torch.ones_like(s, dtype=torch.bool)
            if same:
                rows = torch.arange(c0, c0 + s.size(2), device=s.device)
                allowed[0, rows[rows < ns], torch.nonzero(rows < ns).squeeze(1)] = False
            _, i, j = stable_topk_mask(s, allowed, k, largest).nonzero(as_tuple=True)
            out_i.append(i)
            out_j.append(j + c0)
        return torch.cat(out_i), torch.cat(out_j)

    return search


def kdtree_search(src: Tensor, dst: Tensor, k: int, same: bool) -> tuple[Tensor, Tensor]:
    """Nearest sources by Euclidean distance with scipy's ``cKDTree``, exact as the dense score.

    The tree proposes candidates by float64 distance; they are re-scored with the dense
    path's formula and a row is accepted only when every source left out is certainly
    further than its ``k``-th neighbour, else it asks the tree for more.
    """
    from scipy.spatial import cKDTree

    ns, nd = src.size(0), dst.size(0)
    tree = cKDTree(src.detach().cpu().double().numpy())
    queries = dst.detach().cpu().double().numpy()
    want = min(ns, k + int(same))
    if want == 0:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty
    pending = torch.arange(nd)
    kq = min(ns, want + 4)
    out_i, out_j = [], []
    workers = max(1, torch.get_num_threads())
    while pending.numel():
        d64, idx = tree.query(queries[pending.numpy()], k=kq, workers=workers)
        idx = torch.as_tensor(idx, dtype=torch.long).reshape(pending.numel(), kq)
        far = torch.as_tensor(d64, dtype=torch.float64).reshape(pending.numel(), kq)[:, -1]
        dist = torch.linalg.vector_norm(src[idx] - dst[pending].unsqueeze(1), dim=-1)
        valid = idx != pending.unsqueeze(1) if same else torch.ones_like(idx, dtype=torch.bool)
        rows, cols = valid.nonzero(as_tuple=True)
        keep = select_k(rows, idx[rows, cols], dist[rows, cols], k, largest=False)
        kept_rows, kept_cols = rows[keep], cols[keep]
        kept_dist = dist[kept_rows, kept_cols]
        kth = torch.zeros(pending.numel(), dtype=dist.dtype).scatter_reduce_(
            0, kept_rows, kept_dist, reduce="amax", include_self=False
        )
        kth = torch.where(torch.bincount(kept_rows, minlength=pending.numel()) >= k, kth, float("inf"))
        done = (kq >= ns) | (far.to(dist.dtype) * (1 - 1e-5) > kth)
        sel = done[kept_rows]
        out_i.append(idx[kept_rows[sel], kept_cols[sel]])
        out_j.append(pending[kept_rows[sel]])
        pending = pending[~done]
        kq = min(ns, kq * 2)
    return torch.cat(out_i).to(src.device), torch.cat(out_j).to(src.device)


def candidate_search(approx: Callable[[Tensor, Tensor], Tensor], exact: Callable[[Tensor, Tensor], Tensor],
                     tol: float) -> Search:
    """Largest scores: ``approx`` (fast, e.g. a matrix product) proposes, ``exact`` re-scores the pairs.

    Every source whose approximate score is within ``tol`` of a target's ``k``-th best is a
    candidate, so with ``tol`` above twice the approximation error no true neighbour is missed.
    """

    def search(src: Tensor, dst: Tensor, k: int, same: bool) -> tuple[Tensor, Tensor]:
        ns, nd = src.size(0), dst.size(0)
        kk = min(k, ns - int(same))
        if kk <= 0:
            empty = torch.zeros(0, dtype=torch.long, device=src.device)
            return empty, empty
        rows_per = max(1, CHUNK_ELEMENTS // max(1, ns))
        out_i, out_j = [], []
        for c0 in range(0, nd, rows_per):
            s = approx(dst[c0 : c0 + rows_per], src)  # (C, ns)
            if same:
                r = torch.arange(s.size(0), device=s.device)
                own = r + c0 < ns
                s[r[own], (r + c0)[own]] = float("-inf")
            kth = s.topk(kk, dim=1).values[:, kk - 1 : kk]
            r, c = (s >= kth - tol).nonzero(as_tuple=True)
            if same:
                keep_pairs = c != r + c0
                r, c = r[keep_pairs], c[keep_pairs]
            keep = select_k(r, c, exact(dst[c0 + r], src[c]), k, largest=True)
            out_i.append(c[keep])
            out_j.append(r[keep] + c0)
        return torch.cat(out_i), torch.cat(out_j)

    return search
