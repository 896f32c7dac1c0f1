"""Graph convolution with an explicit, always-added identity: ``act(Â X W + b)``."""

from __future__ import annotations

from typing import Callable, Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Parameter
from torch_geometric.nn import MessagePassing

__all__ = ["GCNLayer"]

_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)

Size = Union[int, Tuple[int, int]]


class GCNLayer(MessagePassing):
    r"""The graph convolution of Kipf & Welling, `"Semi-supervised Classification
    with Graph Convolutional Networks" <https://arxiv.org/abs/1609.02907>`_:

    .. math::
        X' = \sigma\left(\hat{A} X W + b\right), \qquad
        \hat{A} = \hat{D}^{-1/2} (A + I) \hat{D}^{-1/2}, \qquad
        \hat{D}_{ii} = \sum_j (A + I)_{ij},

    where :math:`\sigma` is ``act``. The adjacency is given sparsely by ``edge_index``
    (row 0 = source :math:`j`, row 1 = target :math:`i`) and optional ``edge_weight``
    :math:`w`: :math:`A_{ij} = \sum_{e:\, j \to i} w_e`, so duplicate edges add up and
    :math:`\hat{D}` holds the weighted in-degrees (row sums of :math:`A + I`, as in
    :func:`torch_geometric.nn.conv.gcn_conv.gcn_norm`). Nodes of zero degree get
    coefficient 0 instead of ``inf``/``NaN``. Edge weights are expected to be
    non-negative (a negative degree has no real inverse square root).

    .. note::
        :math:`I` is **always** added: a node that already has a self loop of weight
        :math:`a` ends up with diagonal entry :math:`a + 1`. This differs from
        :class:`torch_geometric.nn.GCNConv`, which uses
        :func:`~torch_geometric.utils.add_remaining_self_loops` and therefore keeps
        existing self loops as they are and adds weight 1 only to nodes without one.
        On graphs without self loops both layers compute the same function.

    **Bipartite mode.** If ``x`` is a pair :math:`(X_s, X_t)` of source and target
    features (different node counts allowed), edges go from source nodes to target
    nodes, self loops do not exist (``add_self_loops`` must be ``False``) and

    .. math::
        X'_t = \sigma\left(D_t^{-1/2} A D_s^{-1/2} X_s W + b\right),

    with :math:`D_t` the weighted in-degree of the targets (row sums of :math:`A`) and
    :math:`D_s` the weighted out-degree of the sources (column sums of :math:`A`).
    Only the number of rows of :math:`X_t` is used.

    With ``normalize=False`` the raw :math:`A + I` (or :math:`A`) is used. The
    coefficients actually applied are available from :meth:`normalized_edges`.

    Args:
        in_dim: Size of each input node feature.
        out_dim: Size of each output node feature.
        bias: If ``False``, no additive bias :math:`b` is learned.
        act: Activation :math:`\sigma` applied last; ``None`` means identity.
        add_self_loops: If ``False``, :math:`A` is used instead of :math:`A + I`
            (required in bipartite mode).
        normalize: If ``False``, no symmetric degree normalisation is applied.

    Shapes:
        - **input:** node features :math:`(N, F_{in})` or a pair
          :math:`((N_s, F_{in}), (N_t, *))`, edge indices :math:`(2, E)`,
          edge weights :math:`(E)` *(optional)*
        - **output:** node features :math:`(N, F_{out})` or :math:`(N_t, F_{out})`
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        bias: bool = True,
        act: Optional[Callable[[Tensor], Tensor]] = torch.relu,
        add_self_loops: bool = True,
        normalize: bool = True,
    ) -> None:
        super().__init__(aggr="add")
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.act = act
        self.add_self_loops = add_self_loops
        self.normalize = normalize

        self.weight = Parameter(torch.empty(in_dim, out_dim))
        if bias:
            self.bias: Optional[Parameter] = Parameter(torch.empty(out_dim))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r"""Glorot-uniform :math:`W`, zero :math:`b`."""
        super().reset_parameters()
        torch.nn.init.xavier_uniform_(self.weight)
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(
        self,
        x: Union[Tensor, Tuple[Tensor, Tensor]],
        edge_index: Tensor,
        edge_weight: Optional[Tensor] = None,
    ) -> Tensor:
        if isinstance(x, (tuple, list)):
            if len(x) != 2:
                raise ValueError(f"x: expected a tensor or a pair (x_src, x_dst), got a sequence of length {len(x)}")
            x_src, x_dst = x
            self._check_x(x_src, "x[0] (x_src)", check_dim=True)
            self._check_x(x_dst, "x[1] (x_dst)", check_dim=False)
            size: Size = (x_src.size(0), x_dst.size(0))
        else:
            self._check_x(x, "x", check_dim=True)
            x_src = x
            size = x.size(0)

        edge_index, coeff = self.normalized_edges(edge_index, size, edge_weight, dtype=x_src.dtype)
        h = x_src @ self.weight
        n_src, n_dst = (size, size) if isinstance(size, int) else size
        # ``None`` for the target side: only its node count (given via ``size``) matters.
        out = self.propagate(edge_index, x=(h, None), edge_weight=coeff, size=(n_src, n_dst))
        if self.bias is not None:
            out = out + self.bias
        return out if self.act is None else self.act(out)

    def message(self, x_j: Tensor, edge_weight: Tensor) -> Tensor:
        return edge_weight.view(-1, 1) * x_j

    def normalized_edges(
        self,
        edge_index: Tensor,
        size: Size,
        edge_weight: Optional[Tensor] = None,
        *,
        dtype: Optional[torch.dtype] = None,
    ) -> Tuple[Tensor, Tensor]:
        r"""The entries of the propagation matrix :math:`\hat{A}` in sparse COO form.

        Args:
            edge_index: Edge indices :math:`(2, E)`, row 0 = source, row 1 = target.
            size: Number of nodes ``N``, or ``(N_src, N_dst)`` for a bipartite graph
                (then ``add_self_loops`` must be ``False``).
            edge_weight: Edge weights :math:`(E)`; ones if ``None``.
            dtype: Floating dtype in which the coefficients are computed (``edge_weight``
                is cast to it). If ``None``: the dtype of a floating ``edge_weight``, else
                :func:`torch.get_default_dtype`. :meth:`forward` passes the dtype of ``x``.

        Returns:
            ``(edge_index, coeff)``: the edge list actually propagated over, shape
            :math:`(2, E')` of dtype ``torch.long`` (the input edges followed, if
            ``add_self_loops``, by one loop ``(k, k)`` per node, so :math:`E' = E + N`),
            and the coefficient of each of those edges, shape :math:`(E')`. Duplicate
            entries are not merged: :math:`\hat{A}_{ij}` is the sum of the coefficients
            of all listed edges :math:`j \to i`.
        """
        bipartite = not isinstance(size, int)
        if bipartite:
            if (
                not isinstance(size, (tuple, list))
                or len(size) != 2
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in size)
            ):
                raise ValueError(f"size: expected a non-negative int or a pair of them (N_src, N_dst), got {size!r}")
            n_src, n_dst = int(size[0]), int(size[1])
            if self.add_self_loops:
                raise ValueError(
                    f"bipartite input (N_src={n_src}, N_dst={n_dst}): self loops are undefined between "
                    "two different node sets; construct GCNLayer(..., add_self_loops=False) for bipartite graphs"
                )
        else:
            if isinstance(size, bool) or size < 0:
                raise ValueError(f"size: expected a non-negative int or a pair of them (N_src, N_dst), got {size!r}")
            n_src = n_dst = size

        edge_index = self._check_edge_index(edge_index, n_src, n_dst)
        num_edges = edge_index.size(1)
        device = edge_index.device

        if edge_weight is None:
            edge_weight = torch.ones(num_edges, dtype=dtype or torch.get_default_dtype(), device=device)
        else:
            if not isinstance(edge_weight, Tensor) or edge_weight.dim() != 1 or edge_weight.size(0) != num_edges:
                got = tuple(edge_weight.shape) if isinstance(edge_weight, Tensor) else type(edge_weight).__name__
                raise ValueError(f"edge_weight: expected shape ({num_edges},) (one weight per edge), got {got}")
            if dtype is not None:
                edge_weight = edge_weight.to(dtype)
            elif not edge_weight.is_floating_point():
                edge_weight = edge_weight.to(torch.get_default_dtype())

        if self.add_self_loops:
            loop = torch.arange(n_src, dtype=torch.long, device=device)
            edge_index = torch.cat([edge_index, loop.unsqueeze(0).repeat(2, 1)], dim=1)
            edge_weight = torch.cat([edge_weight, edge_weight.new_ones(n_src)])

        if not self.normalize:
            return edge_index, edge_weight

        src, dst = edge_index[0], edge_index[1]
        deg_dst = edge_weight.new_zeros(n_dst).index_add_(0, dst, edge_weight)
        inv_dst = _inv_sqrt(deg_dst)
        if bipartite:
            inv_src = _inv_sqrt(edge_weight.new_zeros(n_src).index_add_(0, src, edge_weight))
        else:
            inv_src = inv_dst  # symmetric: D = in-degree of (A + I), used on both sides
        return edge_index, inv_dst[dst] * edge_weight * inv_src[src]

    def _check_x(self, x: Tensor, name: str, check_dim: bool) -> None:
        if not isinstance(x, Tensor):
            raise ValueError(f"{name}: expected a Tensor, got {type(x).__name__}")
        if x.dim() != 2:
            raise ValueError(f"{name}: expected a 2-D tensor (num_nodes, features), got shape {tuple(x.shape)}")
        if check_dim and x.size(-1) != self.in_dim:
            raise ValueError(
                f"{name}: expected {self.in_dim} features (in_dim), got {x.size(-1)} (shape {tuple(x.shape)})"
            )

    @staticmethod
    def _check_edge_index(edge_index: Tensor, n_src: int, n_dst: int) -> Tensor:
        if not isinstance(edge_index, Tensor):
            raise ValueError(f"edge_index: expected a Tensor of shape (2, E), got {type(edge_index).__name__}")
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"edge_index: expected shape (2, E), got {tuple(edge_index.shape)}")
        if edge_index.dtype not in _INT_DTYPES:
            raise ValueError(f"edge_index: expected an integer dtype (e.g. torch.long), got {edge_index.dtype}")
        edge_index = edge_index.long()
        # index ranges are checked for CPU data only: on an accelerator min/max would stall every forward
        if edge_index.numel() > 0 and edge_index.device.type == "cpu":
            for row, name, n in ((0, "source", n_src), (1, "target", n_dst)):
                lo, hi = int(edge_index[row].min()), int(edge_index[row].max())
                if lo < 0 or hi >= n:
                    raise ValueError(
                        f"edge_index: {name} indices (row {row}) must lie in [0, {n - 1}] for {n} "
                        f"{name} nodes, got values in [{lo}, {hi}]"
                    )
        return edge_index

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_dim}, {self.out_dim})"


def _inv_sqrt(deg: Tensor) -> Tensor:
    """``deg ** -0.5`` with 0 (not ``inf``) for zero degree."""
    out = deg.pow(-0.5)
    return out.masked_fill(deg == 0, 0.0)
