"""Readouts: pool node states into one vector per graph of a batch."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter, softmax

from mmgraph.graph.layout import HeteroLayout

__all__ = ["Readout", "POOLINGS", "check_flat", "check_pool"]

#: Per-node-type poolings; ``"fusion"`` additionally takes the fusion node's state.
POOLINGS = ("mean", "max", "sum", "attention", "fusion")


def check_flat(flat: Optional[Mapping[str, int]], node_types: Sequence[str]) -> dict[str, int]:
    """``flat`` (``{node type or modality: elements per graph}``) in sorted order, validated (``{}`` for ``None``)."""
    if flat is None:
        return {}
    if not isinstance(flat, Mapping):
        raise ValueError(f"flat: expected a mapping {{node_type: nodes per graph}}, got {flat!r}")
    for t, n in flat.items():
        if t not in node_types:
            raise ValueError(f"flat: {t!r} is not one of {list(node_types)}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"flat[{t!r}]: expected a positive number of nodes per graph, got {n!r}")
    return {t: flat[t] for t in sorted(flat)}


def check_pool(pool: Optional[Sequence[str]], node_types: Sequence[str], name: str = "pool",
               what: str = "node types") -> list[str]:
    """``pool`` (node types or modalities to pool) sorted and validated (all of ``node_types`` for ``None``);
    errors name the argument ``name`` and call the choices ``what``."""
    if pool is None:
        return sorted(node_types)
    if isinstance(pool, str) or not all(t in node_types for t in pool):
        raise ValueError(f"{name}: expected a list of {what} among {sorted(node_types)}, got {pool!r}")
    return sorted(set(pool))


class Readout(nn.Module):
    r"""Pool the node states of each graph in a batch, per node type, and concatenate.

    For every modality node type :math:`m` (sorted) and every pooling :math:`p` in ``modes``
    (except ``"fusion"``), the states :math:`\{h_v : v \in V_m(g)\}` of graph :math:`g` are
    pooled with

    - ``"mean"`` / ``"max"`` / ``"sum"``: the usual reductions (zeros for a graph with no
      node of that type);
    - ``"attention"``: :math:`\sum_v \alpha_v h_v` with :math:`\alpha = \mathrm{softmax}_{v \in V_m(g)}(w^\top h_v + c)`
      (global attention pooling; the weights can be returned for visualisation).

    ``"fusion"`` takes the state of the graph's fusion node. The output concatenates, in
    the order of ``modes``, each mode's part (for a pooling: one block per node type, in
    sorted order; for ``"fusion"``: the fusion state). Pooling is per graph, never over
    the whole batch.

    ``flat={m: n}`` also reads the :math:`n` nodes of type :math:`m` of each graph in their
    order, concatenated: :math:`[h_{v_1}; \ldots; h_{v_n}]`, e.g. the regions of a fixed grid of cells.
    A head then has weights for each node position, as a CNN+MLP has for each cell, so it
    can tell where an element is from which node it is (on pixels, pooled readouts are slow
    to learn this; see ``docs/pixels.md``).

    Args:
        node_types: Modality node types of the graphs (the fusion type is handled by ``"fusion"``).
        hidden: Width of the node states.
        modes: One pooling name or a sequence of them (see :data:`POOLINGS`).
        fusion_type: Name of the fusion node type.
        flat: ``{node_type: nodes per graph}`` of node types also read flattened, in node order
            (every graph must have exactly that many nodes of the type).
        pool: The node types the poolings read (default: all of ``node_types``), e.g. only the
            question's, with the image's regions read by ``flat``.

    Shapes:
        - **input:** ``x_dict[m]``: :math:`(N_m, H)`, ``batch_dict[m]``: :math:`(N_m,)` graph ids
        - **output:** :math:`(B, \text{out\_dim})` with
          ``out_dim = H * (n_pooled_types * n_pool + n_fusion + sum(flat.values()))``
          (``n_pooled_types``: ``len(pool)``, default all)
    """

    def __init__(
        self,
        node_types: Sequence[str],
        hidden: int,
        modes: Union[str, Sequence[str]] = "mean",
        fusion_type: str = "fusion",
        flat: Optional[Mapping[str, int]] = None,
        pool: Optional[Sequence[str]] = None,
    ) -> None:
        super().__init__()
        modes = (modes,) if isinstance(modes, str) else tuple(modes)
        if not modes:
            raise ValueError(f"modes: expected at least one of {list(POOLINGS)}, got none")
        for mode in modes:
            if mode not in POOLINGS:
                raise ValueError(f"readout mode: expected one of {list(POOLINGS)}, got {mode!r}")
        if len(set(modes)) != len(modes):
            raise ValueError(f"readout modes must be distinct, got {list(modes)}")
        if "fusion" in modes and fusion_type not in node_types:
            raise ValueError(
                f"readout mode 'fusion' needs a {fusion_type!r} node type (build graphs with fusion_node=True); "
                f"got node types {list(node_types)}"
            )
        modalities = sorted(t for t in node_types if t != fusion_type)
        self.flat = check_flat(flat, modalities)
        if pool is not None and not pool and any(m != "fusion" for m in modes):
            raise ValueError(f"pool: expected at least one node type for the poolings {list(modes)}, got none")
        #: The node types the poolings read.
        self.node_types = check_pool(pool, modalities)
        self.modes = modes
        self.hidden = hidden
        self.fusion_type = fusion_type
        self.gates = nn.ModuleDict({t: nn.Linear(hidden, 1) for t in self.node_types}) if "attention" in modes else None
        self._block_cache: dict[tuple[tuple[str, ...], str], Tensor] = {}
        n_pool = sum(m != "fusion" for m in modes)
        self.out_dim = hidden * (len(self.node_types) * n_pool + ("fusion" in modes) + sum(self.flat.values()))

    def reset_parameters(self) -> None:
        if self.gates is not None:
            for gate in self.gates.values():
                gate.reset_parameters()

    def forward(
        self,
        x_dict: Mapping[str, Tensor],
        batch_dict: Mapping[str, Tensor],
        num_graphs: int,
        return_weights: bool = False,
    ) -> Union[Tensor, tuple[Tensor, dict[str, Tensor]]]:
        parts: list[Tensor] = []
        weights: dict[str, Tensor] = {}
        for mode in self.modes:
            if mode == "fusion":
                if self.fusion_type not in x_dict:
                    raise ValueError("readout mode 'fusion' needs a fusion node: build graphs with fusion_node=True")
                parts.append(x_dict[self.fusion_type])
                continue
            for t in self.node_types:
                x, index = x_dict[t], batch_dict[t]
                if mode == "attention":
                    assert self.gates is not None
                    alpha = softmax(self.gates[t](x).squeeze(-1), index, num_nodes=num_graphs)
                    weights[t] = alpha
                    parts.append(scatter(alpha.unsqueeze(-1) * x, index, dim=0, dim_size=num_graphs, reduce="sum"))
                else:
                    parts.append(scatter(x, index, dim=0, dim_size=num_graphs, reduce=mode))
        parts += [self._flat(t, x_dict[t], num_graphs) for t in self.flat]
        out = torch.cat(parts, dim=-1)
        return (out, weights) if return_weights else out

    def forward_layout(
        self, h: Tensor, layout: HeteroLayout, return_weights: bool = False, flat_states: Optional[Tensor] = None
    ) -> Union[Tensor, tuple[Tensor, dict[str, Tensor]]]:
        """:meth:`forward` on node states in the rows of a :class:`~mmgraph.graph.HeteroLayout`.

        ``flat_states`` (same rows and width as ``h``): the states the ``flat`` part reads
        instead of ``h``, e.g. the nodes' states before message passing.

        Every pooling is one scatter over all node types at once: node ``v`` of type ``t`` in
        graph ``g`` goes to group ``g * T + t``; the pooled types' groups are then picked.
        """
        num_graphs, types = layout.num_graphs, len(layout.node_types)
        group = layout.batch * types + layout.node_type  # one group per (graph, node type)
        blocks = self._blocks(layout, h.device)  # the pooled node types' places among the layout's
        parts: list[Tensor] = []
        weights: dict[str, Tensor] = {}
        for mode in self.modes:
            if mode == "fusion":
                if self.fusion_type not in layout.node_types:
                    raise ValueError("readout mode 'fusion' needs a fusion node: build graphs with fusion_node=True")
                parts.append(h[layout.node_slice(self.fusion_type)])
                continue
            src = h
            if mode == "attention":
                assert self.gates is not None
                gate_w = torch.stack([self.gates[t].weight[0] for t in self.node_types] + [h.new_zeros(h.size(1))])
                gate_b = torch.stack([self.gates[t].bias[0] for t in self.node_types] + [h.new_zeros(())])
                kind = torch.full((types,), len(self.node_types), dtype=torch.long, device=h.device)
                kind = kind.index_copy(0, blocks, torch.arange(len(self.node_types), device=h.device))
                kind = kind.index_select(0, layout.node_type)  # each node's gate (the last: none)
                logit = (h * gate_w.index_select(0, kind)).sum(-1) + gate_b.index_select(0, kind)
                alpha = softmax(logit, group, num_nodes=num_graphs * types)
                weights.update({t: alpha[layout.node_slice(t)] for t in self.node_types if t in layout.node_types})
                src, mode = alpha.unsqueeze(-1) * h, "sum"
            pooled = scatter(src, group, dim=0, dim_size=num_graphs * types, reduce=mode).view(num_graphs, types, -1)
            parts.append(pooled.index_select(1, blocks).view(num_graphs, len(self.node_types) * self.hidden))
        flat = h if flat_states is None else flat_states
        parts += [self._flat(t, flat[layout.node_slice(t)], num_graphs) for t in self.flat]
        out = torch.cat(parts, dim=-1)
        return (out, weights) if return_weights else out

    def _flat(self, node_type: str, h: Tensor, num_graphs: int) -> Tensor:
        """``(B, n * H)``: the ``n`` nodes of ``node_type`` of each graph, concatenated in order."""
        n = self.flat[node_type]
        if h.size(0) != num_graphs * n:
            raise ValueError(f"Readout: flat[{node_type!r}] expects {n} nodes per graph ({num_graphs * n} for "
                             f"{num_graphs} graphs), got {h.size(0)} {node_type!r} nodes")
        return h.reshape(num_graphs, n * h.size(-1))

    def _blocks(self, layout: HeteroLayout, device: torch.device) -> Tensor:
        """``(T_pooled,)`` the position of each pooled node type among the layout's (cached per schema and device)."""
        key = (layout.node_types, str(device))
        if key not in self._block_cache:
            missing = [t for t in self.node_types if t not in layout.node_types]
            if missing:
                raise ValueError(f"Readout: node types {missing} are not in the graph's {list(layout.node_types)}")
            self._block_cache[key] = torch.tensor([layout.node_types.index(t) for t in self.node_types], device=device)
        return self._block_cache[key]

    def __repr__(self) -> str:
        flat = f", flat={self.flat}" if self.flat else ""
        return f"{self.__class__.__name__}({self.node_types}, modes={list(self.modes)}{flat})"

