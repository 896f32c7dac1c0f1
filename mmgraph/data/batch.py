"""Padded mini-batches of multimodal samples, and :func:`collate` to make them."""

from __future__ import annotations

import functools
from typing import Any, Iterator, Mapping, Optional, Sequence

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from mmgraph.data.modality import _INT_DTYPES, Modality
from mmgraph.data.raw import RawItem, RawModality
from mmgraph.data.sample import MultimodalSample, check_modality_name
from mmgraph.utils.checks import check_dense, check_features
from mmgraph.utils.target import as_target

__all__ = ["ModalityBatch", "MultimodalBatch", "collate"]


def _checked_values(t: Tensor, what: str) -> Tensor:
    """A dense real floating tensor with finite values within the feature limit (integers converted)."""
    check_dense(t, what)
    if t.dtype == torch.bool or t.is_complex() or not (t.is_floating_point() or t.dtype in _INT_DTYPES):
        raise ValueError(f"{what}: expected real-valued numbers, got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return check_features(t, what)


class ModalityBatch:
    r"""One modality across a batch, padded to the longest sample.

    Args:
        x: Padded features.
        mask: ``True`` where an element exists, ``False`` on padding. A sample that lacks
            the modality has an all-``False`` row.
        pos: Optional padded positions.
        time: Optional padded ``(start, end)`` spans.
        labels: Optional per-sample element labels (``None`` where unknown).
        name: The modality's name, for error messages.
        check: Validate the values (the boundary where data enter: dense real tensors, integer
            features become the default float dtype, no NaN/Inf or values beyond
            :data:`~mmgraph.utils.checks.FEATURE_LIMIT`, at least one sample, the mask on the
            device of ``x``). Modules that make batches inside a forward pass pass ``False``:
            shapes are still checked, values are not (no device sync).

    Shapes:
        - **x:** :math:`(B, L, D)`
        - **mask:** :math:`(B, L)`, ``torch.bool``
        - **pos:** :math:`(B, L, P)`
        - **time:** :math:`(B, L, 2)`
    """

    __slots__ = ("x", "mask", "pos", "time", "labels")

    def __init__(
        self,
        x: Tensor,
        mask: Optional[Tensor] = None,
        pos: Optional[Tensor] = None,
        time: Optional[Tensor] = None,
        labels: Optional[Sequence[Optional[Sequence[str]]]] = None,
        name: str = "modality",
        check: bool = True,
    ) -> None:
        where = f"modality {name!r}"
        if not isinstance(x, Tensor) or x.dim() != 3:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{where}: x: expected a padded tensor of shape (batch, length, dim), got {got}")
        if check:
            x = _checked_values(x, f"{where}: x")
            if x.size(0) == 0:
                raise ValueError(f"{where}: x: expected at least one sample, got an empty batch {tuple(x.shape)}")
        b, n, _ = x.shape
        if mask is None:
            mask = torch.ones(b, n, dtype=torch.bool, device=x.device)
        if not isinstance(mask, Tensor) or mask.shape != (b, n):
            got = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
            raise ValueError(f"{where}: mask: expected shape {(b, n)} to match x, got {got}")
        if check and mask.device != x.device:
            raise ValueError(f"{where}: mask: expected the device of x ({x.device}), got {mask.device}")
        mask = mask.to(torch.bool)
        for key, value, width in (("pos", pos, None), ("time", time, 2)):
            if value is None:
                continue
            if not isinstance(value, Tensor):
                raise ValueError(f"{where}: {key}: expected a tensor, got {type(value).__name__}")
            if check:
                value = _checked_values(value, f"{where}: {key}")
                pos, time = (value, time) if key == "pos" else (pos, value)
            if value.dim() != 3 or value.shape[:2] != (b, n) or (width is not None and value.size(2) != width):
                want = f"({b}, {n}, {width if width else 'pos_dim'})"
                raise ValueError(f"{where}: {key}: expected shape {want} to match x, got {tuple(value.shape)}")
        if labels is not None and len(labels) != b:
            raise ValueError(f"{where}: labels: expected one entry per sample ({b}), got {len(labels)}")
        self.x = x
        self.mask = mask
        self.pos = pos
        self.time = time
        self.labels = None if labels is None else [None if lab is None else list(lab) for lab in labels]

    @property
    def lengths(self) -> Tensor:
        """Number of real elements per sample, shape ``(B,)``."""
        return self.mask.sum(dim=1)

    @property
    def present(self) -> Tensor:
        """Whether each sample has this modality at all, shape ``(B,)``, bool."""
        return self.mask.any(dim=1)

    @property
    def feature_dim(self) -> int:
        return self.x.size(-1)

    def flat(self) -> Tensor:
        """The real elements of every sample stacked, sample by sample: ``(sum(lengths), D)``."""
        return self.x[self.mask]

    def to(self, *args: Any, **kwargs: Any) -> "ModalityBatch":
        out = ModalityBatch.__new__(ModalityBatch)
        out.x = self.x.to(*args, **kwargs)
        device_only = {k: v for k, v in kwargs.items() if k != "dtype"}
        out.mask = self.mask.to(*[a for a in args if not isinstance(a, torch.dtype)], **device_only)
        out.pos = None if self.pos is None else self.pos.to(*args, **kwargs)
        out.time = None if self.time is None else self.time.to(*args, **kwargs)
        out.labels = self.labels
        return out

    def select(self, index: Tensor) -> "ModalityBatch":
        """The samples ``index`` (a 1-D integer tensor; repeats allowed), in that order."""
        index = _check_index(index, self.x.size(0))
        out = ModalityBatch.__new__(ModalityBatch)
        out.x, out.mask = self.x[index], self.mask[index]
        out.pos = None if self.pos is None else self.pos[index]
        out.time = None if self.time is None else self.time[index]
        out.labels = None if self.labels is None else [self.labels[int(i)] for i in index]
        return out

    def __repr__(self) -> str:
        parts = [f"x={list(self.x.shape)}"]
        parts += [f"{k}={list(getattr(self, k).shape)}" for k in ("pos", "time") if getattr(self, k) is not None]
        return f"ModalityBatch({', '.join(parts)})"


class MultimodalBatch(Mapping[str, ModalityBatch]):
    r"""A mini-batch: one :class:`ModalityBatch` per modality name, plus optional targets.

    Every registered model takes a :class:`MultimodalBatch`. Make one with :func:`collate`
    from a list of :class:`~mmgraph.MultimodalSample`, or directly from padded tensors
    (fast for generated datasets).

    Args:
        modalities: Mapping ``name -> ModalityBatch`` (all with the same batch size).
        y: Optional targets with the batch as the first dimension.
        raw: Optional ``{name: RawModality}`` inputs that a model's extractors turn into
            modalities (e.g. pixels into image regions); see :meth:`mmgraph.nn.FusionModel.prepare`.
        graph: Optional graph of this batch built ahead of the model, where the data is loaded
            (:class:`mmgraph.graph.GraphCollate`); graph models then use it instead of building
            one in their forward pass. Operations that change the samples (``select``,
            ``without``, ``with_modalities``) drop it.
    """

    def __init__(
        self,
        modalities: Mapping[str, ModalityBatch],
        y: Optional[Tensor] = None,
        raw: Optional[Mapping[str, RawModality]] = None,
        graph: Optional[Any] = None,
    ) -> None:
        raw = dict(raw or {})
        if not modalities and not raw:
            raise ValueError("a MultimodalBatch needs at least one modality, got none")
        for name in list(modalities) + list(raw):
            check_modality_name(name)
        both = sorted(set(modalities) & set(raw))
        if both:
            raise ValueError(f"modalities {both} are given both as elements and as raw input; give one")
        sizes = {name: mb.x.size(0) for name, mb in modalities.items()}
        sizes.update({name: r.batch_size for name, r in raw.items()})
        if len(set(sizes.values())) != 1:
            raise ValueError(f"all modalities must have the same batch size, got {sizes}")
        self._mods: dict[str, ModalityBatch] = {k: modalities[k] for k in sorted(modalities)}
        self.raw: dict[str, RawModality] = {k: raw[k] for k in sorted(raw)}
        self.batch_size: int = next(iter(sizes.values()))
        if self.batch_size < 1:
            raise ValueError(f"a MultimodalBatch needs at least one sample, got batch size {self.batch_size}")
        if y is not None and not (isinstance(y, Tensor) and y.layout == torch.strided and y.dtype != torch.bool
                                  and not y.is_complex() and not y.is_meta):
            y = as_target(y, "y")  # refuses strings, booleans, sparse tensors; fit checks the values per batch
        if y is not None and (y.dim() == 0 or y.size(0) != self.batch_size):
            raise ValueError(f"y: expected the batch size {self.batch_size} as first dimension, got {tuple(y.shape)}")
        self.y: Optional[Tensor] = y
        if graph is not None:
            if not all(hasattr(graph, a) for a in ("data", "layout", "key", "to")):
                raise ValueError(f"graph: expected a prebuilt graph (mmgraph.graph.PrebuiltGraph), got {type(graph).__name__}")
            if graph.layout.num_graphs != self.batch_size:
                raise ValueError(f"graph: expected {self.batch_size} graphs (the batch size), got {graph.layout.num_graphs}")
        self.graph = graph

    @property
    def modalities(self) -> list[str]:
        """Modality names, sorted."""
        return list(self._mods)

    def __getitem__(self, name: str) -> ModalityBatch:
        try:
            return self._mods[name]
        except KeyError:
            raise KeyError(f"modality {name!r} is not in this batch; it has {self.modalities}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._mods)

    def __len__(self) -> int:
        return len(self._mods)

    @property
    def device(self) -> torch.device:
        if self._mods:
            return next(iter(self._mods.values())).x.device
        return next(iter(self.raw.values())).data.device

    def to(self, *args: Any, **kwargs: Any) -> "MultimodalBatch":
        """Move every tensor like :meth:`torch.Tensor.to` (masks and targets keep their dtype)."""
        device_args = [a for a in args if not isinstance(a, torch.dtype)]
        device_kwargs = {k: v for k, v in kwargs.items() if k != "dtype"}
        y = None if self.y is None else self.y.to(*device_args, **device_kwargs)
        raw = {k: v.to(*args, **kwargs) for k, v in self.raw.items()}
        graph = None if self.graph is None else self.graph.to(*args, **kwargs)
        return MultimodalBatch({k: v.to(*args, **kwargs) for k, v in self._mods.items()}, y=y, raw=raw, graph=graph)

    def cast(self, dtype: torch.dtype) -> "MultimodalBatch":
        """This batch with every floating feature, position, time and raw tensor in ``dtype``.

        Models call it on their input, so features of any floating dtype (float16, bfloat16,
        float32, float64) work with a model of any dtype. Returns ``self`` when nothing changes.
        """
        def differs(t: Optional[Tensor]) -> bool:
            return t is not None and t.is_floating_point() and t.dtype != dtype

        if not any(differs(t) for m in self._mods.values() for t in (m.x, m.pos, m.time)) and \
                not any(differs(r.data) for r in self.raw.values()):
            return self
        mods = {}
        for k, m in self._mods.items():
            out = ModalityBatch.__new__(ModalityBatch)
            out.x, out.mask, out.labels = m.x.to(dtype) if differs(m.x) else m.x, m.mask, m.labels
            out.pos = m.pos.to(dtype) if differs(m.pos) else m.pos
            out.time = m.time.to(dtype) if differs(m.time) else m.time
            mods[k] = out
        raw = {k: RawModality(r.data.to(dtype), r.index, name=k) if differs(r.data) else r for k, r in self.raw.items()}
        return MultimodalBatch(mods, y=self.y, raw=raw, graph=self.graph)

    def with_graph(self, graph: Any) -> "MultimodalBatch":
        """This batch with a prebuilt ``graph`` (see :class:`mmgraph.graph.GraphCollate`)."""
        out = MultimodalBatch(self._mods, y=self.y, raw=self.raw, graph=graph)
        return out

    def without(self, *names: str) -> "MultimodalBatch":
        """Return the batch with the given modalities removed entirely (e.g. for ablations)."""
        unknown = [n for n in names if n not in self._mods and n not in self.raw]
        if unknown:
            have = self.modalities + list(self.raw)
            raise ValueError(f"cannot remove {unknown}: the batch has modalities {have}")
        keep = {k: v for k, v in self._mods.items() if k not in names}
        keep_raw = {k: v for k, v in self.raw.items() if k not in names}
        if not keep and not keep_raw:
            raise ValueError(f"removing {list(names)} would leave no modality")
        return MultimodalBatch(keep, y=self.y, raw=keep_raw)

    def with_modalities(self, extra: Mapping[str, ModalityBatch]) -> "MultimodalBatch":
        """This batch plus ``extra`` modalities, with raw inputs of the same names removed."""
        mods = {**self._mods, **extra}
        raw = {k: v for k, v in self.raw.items() if k not in extra}
        return MultimodalBatch(mods, y=self.y, raw=raw)

    def select(self, index: Tensor) -> "MultimodalBatch":
        """The samples ``index`` (a 1-D integer tensor; repeats allowed), in that order, targets included.

        Raw modalities keep their items and select their ``index``, so an item used by several
        selected samples is still encoded once.
        """
        index = _check_index(index, self.batch_size)
        mods = {k: v.select(index) for k, v in self._mods.items()}
        raw = {k: RawModality(v.data, v.index[index.to(v.index.device)], name=k) for k, v in self.raw.items()}
        y = None if self.y is None else self.y[index.to(self.y.device)]
        return MultimodalBatch(mods, y=y, raw=raw)

    def unbatch(self) -> list[MultimodalSample]:
        """Split back into samples (the inverse of :func:`collate`)."""
        if self.raw:
            raise ValueError(f"cannot split raw modalities {list(self.raw)} into samples; run the model's extractors first")
        out = []
        for i in range(self.batch_size):
            mods: dict[str, Modality] = {}
            for name, mb in self._mods.items():
                m = mb.mask[i]
                if not bool(m.any()):
                    continue
                labels = None if mb.labels is None else mb.labels[i]
                mods[name] = Modality(
                    mb.x[i][m],
                    pos=None if mb.pos is None else mb.pos[i][m],
                    time=None if mb.time is None else mb.time[i][m],
                    labels=labels,
                )
            out.append(MultimodalSample(mods, y=None if self.y is None else self.y[i]))
        return out

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in {**self._mods, **self.raw}.items())
        return f"MultimodalBatch(batch_size={self.batch_size}, {inner})"


def _check_index(index: Tensor, size: int) -> Tensor:
    if not isinstance(index, Tensor) or index.dim() != 1 or index.dtype not in (torch.int32, torch.int64):
        got = (tuple(index.shape), index.dtype) if isinstance(index, Tensor) else type(index).__name__
        raise ValueError(f"index: expected a 1-D integer tensor of sample indices, got {got}")
    if index.numel() == 0:
        raise ValueError("index: expected at least one sample index, got an empty tensor")
    if int(index.min()) < 0 or int(index.max()) >= size:
        raise ValueError(f"index: expected values in [0, {size - 1}] (the batch size is {size}), "
                         f"got min {int(index.min())} max {int(index.max())}")
    return index.long()


def _pad(tensors: list[Tensor]) -> Tensor:
    return pad_sequence(tensors, batch_first=True, padding_value=0.0)


def collate(samples: Sequence[MultimodalSample]) -> MultimodalBatch:
    r"""Pad a list of samples into a :class:`MultimodalBatch` (usable as a DataLoader ``collate_fn``).

    Each modality is padded to its longest sample; samples that lack a modality get an
    all-``False`` mask row. Raw items (:class:`~mmgraph.data.RawItem`) become one
    :class:`RawModality` per name holding each distinct item once (same ``key``, or views of the
    same memory), so e.g. an image shared by several questions is encoded once. Targets ``y``
    are stacked when every sample has one.

    Raises:
        ValueError: for an empty list, a non-sample item, a modality whose feature
            dimension, ``pos`` dimension or presence of ``pos``/``time`` differs between
            samples, or a raw modality missing in some samples or of differing item shapes
            (the message names the modality and the sample index).
    """
    samples = list(samples)
    if not samples:
        raise ValueError("collate: expected at least one sample, got an empty sequence")
    for i, s in enumerate(samples):
        if not isinstance(s, MultimodalSample):
            raise ValueError(f"collate: sample {i}: expected a MultimodalSample, got {type(s).__name__}")
    names = sorted({n for s in samples for n in s})
    raw = {name: _collate_raw(samples, name) for name in sorted({n for s in samples for n in s.raw})}
    mods = {name: _collate_modality(samples, name) for name in names}
    return MultimodalBatch(mods, y=_collate_targets(samples), raw=raw)


def _check_like(ref: Modality, m: Modality, name: str, first: int, i: int) -> None:
    """Refuse sample ``i``'s modality ``name`` if its widths or geometry differ from sample ``first``'s."""
    if m.feature_dim != ref.feature_dim:
        raise ValueError(
            f"collate: modality {name!r}: expected feature_dim {ref.feature_dim} (as in sample {first}), "
            f"got {m.feature_dim} in sample {i}"
        )
    for key in ("pos", "time"):
        a, b = getattr(ref, key), getattr(m, key)
        if (a is None) != (b is None):
            raise ValueError(
                f"collate: modality {name!r}: sample {first} {'has' if a is not None else 'lacks'} {key} "
                f"but sample {i} {'has' if b is not None else 'lacks'} it; give it for all samples or none"
            )
    if ref.pos is not None and m.pos.size(1) != ref.pos.size(1):
        raise ValueError(
            f"collate: modality {name!r}: expected pos_dim {ref.pos.size(1)} (as in sample {first}), "
            f"got {m.pos.size(1)} in sample {i}"
        )


def _collate_modality(samples: Sequence[MultimodalSample], name: str) -> ModalityBatch:
    """Modality ``name`` of every sample padded into one :class:`ModalityBatch` (empty rows where absent)."""
    first = next(i for i, s in enumerate(samples) if name in s)
    ref = samples[first][name]
    xs, poss, times, labels = [], [], [], []
    for i, s in enumerate(samples):
        if name not in s:
            xs.append(ref.x.new_zeros(0, ref.feature_dim))
            poss.append(None if ref.pos is None else ref.pos.new_zeros(0, ref.pos.size(1)))
            times.append(None if ref.time is None else ref.time.new_zeros(0, 2))
            labels.append(None)
            continue
        m = s[name]
        _check_like(ref, m, name, first, i)
        xs.append(m.x)
        poss.append(m.pos)
        times.append(m.time)
        labels.append(m.labels)
    lengths = torch.tensor([x.size(0) for x in xs])
    dtype = functools.reduce(torch.promote_types, [x.dtype for x in xs])  # samples may mix float dtypes
    x = _pad([x.to(dtype) for x in xs])
    mask = torch.arange(x.size(1)).unsqueeze(0) < lengths.unsqueeze(1)
    return ModalityBatch(
        x,
        mask,
        pos=None if ref.pos is None else _pad(poss),
        time=None if ref.time is None else _pad(times),
        labels=labels if any(lab is not None for lab in labels) else None,
        name=name,
        check=False,  # each sample's values were checked when it was made
    )


def _collate_targets(samples: Sequence[MultimodalSample]) -> Optional[Tensor]:
    """Every sample's ``y`` stacked (``None`` when no sample has one)."""
    ys = [s.y for s in samples]
    missing_y = [i for i, t in enumerate(ys) if t is None]
    if missing_y and len(missing_y) < len(ys):
        raise ValueError(f"collate: some samples have a target y and others do not (missing in samples {missing_y[:5]})")
    if missing_y:
        return None
    try:
        return torch.stack(ys)
    except RuntimeError as exc:
        shapes = sorted({tuple(t.shape) for t in ys})
        raise ValueError(f"collate: targets y must share one shape, got shapes {shapes}") from exc


def _collate_raw(samples: Sequence[MultimodalSample], name: str) -> RawModality:
    """The raw items ``name`` of ``samples``: each distinct item once, and each sample's item index."""
    slot: dict[Any, int] = {}
    items: list[Tensor] = []
    index: list[int] = []
    for i, s in enumerate(samples):
        item: Optional[RawItem] = s.raw.get(name)
        if item is None:
            raise ValueError(f"collate: raw modality {name!r}: missing in sample {i}; raw input cannot be missing "
                             "from some samples of a batch (give it to every sample)")
        ident = item.identity()
        if ident not in slot:
            if items and (item.data.shape != items[0].shape or item.data.dtype != items[0].dtype):
                first = index[0] if index else 0
                raise ValueError(f"collate: raw modality {name!r}: expected items of shape {tuple(items[0].shape)} "
                                 f"{items[0].dtype} (as in sample {first}), got {tuple(item.data.shape)} "
                                 f"{item.data.dtype} in sample {i}")
            slot[ident] = len(items)
            items.append(item.data)
        index.append(slot[ident])
    return RawModality(torch.stack(items), torch.tensor(index), name=name)
