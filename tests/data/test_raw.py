"""RawModality and raw inputs in a MultimodalBatch."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg


def test_raw_modality_and_batch() -> None:
    raw = mg.RawModality(torch.zeros(2, 3, 4, 4), torch.tensor([1, 0, 1]), name="image")
    assert raw.batch_size == 3 and repr(raw) == "RawModality(data=[2, 3, 4, 4], index=[3])"
    text = mg.ModalityBatch(torch.randn(3, 2, 5), name="text")
    batch = mg.MultimodalBatch({"text": text}, raw={"image": raw}, y=torch.tensor([0, 1, 2]))
    assert batch.modalities == ["text"] and list(batch.raw) == ["image"] and batch.batch_size == 3
    assert batch.to(torch.float64).raw["image"].data.dtype == torch.float64
    assert batch.to(torch.float64).raw["image"].index.dtype == torch.long
    only_raw = batch.without("text")
    assert only_raw.modalities == [] and list(only_raw.raw) == ["image"]
    assert list(batch.without("image").raw) == []
    extra = mg.ModalityBatch(torch.randn(3, 4, 2), name="image")
    merged = batch.with_modalities({"image": extra})
    assert merged.modalities == ["image", "text"] and merged.raw == {}
    with pytest.raises(ValueError, match="cannot split raw modalities"):
        batch.unbatch()


@pytest.mark.parametrize(
    "data, index, message",
    [
        (torch.zeros(0, 3), torch.tensor([0]), "at least one item"),
        (torch.zeros(2, 3), torch.tensor([[0]]), "1-D integer tensor"),
        (torch.zeros(2, 3), torch.tensor([0.0]), "1-D integer tensor"),
        (torch.zeros(2, 3), torch.tensor([0, 2]), r"values in \[0, 1\], got min 0 max 2"),
    ],
)
def test_raw_modality_errors(data, index, message) -> None:
    with pytest.raises(ValueError, match=f"raw modality 'image': .*{message}"):
        mg.RawModality(data, index, name="image")


def test_batch_errors_with_raw() -> None:
    raw = mg.RawModality(torch.zeros(2, 3), torch.tensor([0, 1]), name="image")
    with pytest.raises(ValueError, match="same batch size"):
        mg.MultimodalBatch({"text": mg.ModalityBatch(torch.randn(3, 2, 5))}, raw={"image": raw})
    with pytest.raises(ValueError, match=r"\['image'\] are given both as elements and as raw input"):
        mg.MultimodalBatch({"image": mg.ModalityBatch(torch.randn(2, 2, 5))}, raw={"image": raw})
    with pytest.raises(ValueError, match="at least one modality"):
        mg.MultimodalBatch({}, raw={})
