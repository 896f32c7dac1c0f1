"""One multimodal example: any number of named modalities and an optional target."""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional, Union

import torch
from torch import Tensor

from mmgraph.data.modality import Modality, as_float_tensor
from mmgraph.data.raw import RawItem, RawModality
from mmgraph.utils.target import as_target

__all__ = ["MultimodalSample", "check_modality_name", "RESERVED_NAMES"]

#: Names that cannot be used for a modality: ``fusion`` is the graph builder's fusion node type.
RESERVED_NAMES = frozenset({"fusion"})

# Models keep per-modality submodules in ``nn.ModuleDict``s, which refuse keys that are
# attributes of ``nn.Module`` ("type", "training", "float", ...).
_MODULE_ATTRIBUTES = frozenset(dir(torch.nn.Module()))


def check_modality_name(name: Any) -> str:
    """Return ``name`` if it is a valid modality name, else raise a ``ValueError``."""
    if not isinstance(name, str) or not name.isidentifier() or "__" in name:
        raise ValueError(
            f"modality names must be Python identifiers without '__' (e.g. 'text', 'image'), got {name!r}"
        )
    if name in RESERVED_NAMES:
        raise ValueError(f"modality name {name!r} is reserved (the graph builder's fusion node type)")
    if name in _MODULE_ATTRIBUTES:
        raise ValueError(
            f"modality name {name!r} clashes with a torch.nn.Module attribute (models keep one submodule per "
            f"modality); choose another name, e.g. {name + '_'!r}"
        )
    return name


class MultimodalSample(Mapping[str, Modality]):
    r"""One example made of named modalities, indexed by modality name.

    A modality that is missing for this example is simply absent. Modalities can be given
    as :class:`Modality` objects or, for features only, as plain ``(num_elements, dim)``
    tensors. Raw input that a model's extractor turns into elements (pixels into regions) is
    given as a :class:`~mmgraph.data.RawItem` (or a :class:`~mmgraph.RawModality` of one sample)
    and kept in :attr:`raw`; iterating over the sample yields its element modalities.

    Args:
        modalities: Optional mapping ``name -> Modality`` (or ``RawItem``).
        y: Optional target (class index, regression value(s), ...), stored as a tensor.
        **kwargs: More modalities by keyword, e.g. ``text=Modality(...)``.

    Example:
        >>> import torch, mmgraph as mg
        >>> s = mg.MultimodalSample(text=mg.Modality(torch.randn(7, 16)), image=torch.randn(4, 8))
        >>> s.modalities
        ['image', 'text']
        >>> s["text"].x.shape
        torch.Size([7, 16])

    Raises:
        ValueError: for an empty sample, an invalid or reserved modality name, or any
            invalid modality (the message names the modality).
    """

    def __init__(
        self,
        modalities: Optional[Mapping[str, Union[Modality, RawItem, Tensor]]] = None,
        *,
        y: Any = None,
        **kwargs: Union[Modality, RawItem, Tensor],
    ) -> None:
        items: dict[str, Union[Modality, RawItem, Tensor]] = dict(modalities or {})
        for name, value in kwargs.items():
            if name in items:
                raise ValueError(f"modality {name!r} given twice (in the mapping and as a keyword)")
            items[name] = value
        if not items:
            raise ValueError("a MultimodalSample needs at least one modality, got none")
        for name in items:
            check_modality_name(name)
        self._mods: dict[str, Modality] = {}
        #: Raw inputs by modality name (sorted), for the model's extractors.
        self.raw: dict[str, RawItem] = {}
        for name in sorted(items):
            value = items[name]
            if isinstance(value, (RawItem, RawModality)):
                self.raw[name] = _raw_item(value, name)
                continue
            if not isinstance(value, Modality):
                if isinstance(value, Mapping):
                    raise ValueError(f"modality {name!r}: expected a Modality or a tensor, got a mapping")
                value = Modality(as_float_tensor(value, f"modality {name!r}: x"))
            self._mods[name] = value.check(name)
        self.y: Optional[Tensor] = as_target(y)

    @property
    def modalities(self) -> list[str]:
        """The names of the modalities present, sorted."""
        return list(self._mods)

    def __getitem__(self, name: str) -> Modality:
        try:
            return self._mods[name]
        except KeyError:
            raise KeyError(f"modality {name!r} is not in this sample; it has {self.modalities}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._mods)

    def __len__(self) -> int:
        return len(self._mods)

    def without(self, *names: str) -> "MultimodalSample":
        """Return a copy with the given modalities (element or raw) removed (at least one must remain)."""
        unknown = [n for n in names if n not in self._mods and n not in self.raw]
        if unknown:
            raise ValueError(f"cannot remove {unknown}: the sample has modalities {self.modalities + list(self.raw)}")
        keep: dict[str, Union[Modality, RawItem]] = {k: v for k, v in self._mods.items() if k not in names}
        keep.update({k: v for k, v in self.raw.items() if k not in names})
        return MultimodalSample(keep, y=self.y)

    def to(self, *args: Any, **kwargs: Any) -> "MultimodalSample":
        """Return a copy with every tensor moved/cast like :meth:`torch.Tensor.to` (``y`` keeps its dtype)."""
        device_args = [a for a in args if not isinstance(a, torch.dtype)]
        device_kwargs = {k: v for k, v in kwargs.items() if k != "dtype"}
        y = None if self.y is None else self.y.to(*device_args, **device_kwargs)  # targets keep their dtype
        mods: dict[str, Union[Modality, RawItem]] = {k: v.to(*args, **kwargs) for k, v in self._mods.items()}
        mods.update({k: v.to(*args, **kwargs) for k, v in self.raw.items()})
        return MultimodalSample(mods, y=y)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in {**self._mods, **self.raw}.items())
        if self.y is not None:
            inner += f", y={self.y.tolist() if self.y.numel() <= 4 else list(self.y.shape)}"
        return f"MultimodalSample({inner})"


def _raw_item(value: Union[RawItem, RawModality], name: str) -> RawItem:
    if isinstance(value, RawItem):
        return value
    if value.batch_size != 1:
        raise ValueError(f"modality {name!r}: a sample holds one raw item; got a RawModality of {value.batch_size} "
                         "samples (give RawItem(data) per sample, collate() shares items between samples)")
    return RawItem(value.data[value.index[0]])
