"""RawModality and raw inputs in a MultimodalBatch."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg
from mmgraph.data import RawItem


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
    with pytest.raises(ValueError, match=r"\['image'\].*given.*both.*elements.*input"):
        mg.MultimodalBatch({"image": mg.ModalityBatch(torch.randn(2, 2, 5))}, raw={"image": raw})
    with pytest.raises(ValueError, match="at least one modality"):
        mg.MultimodalBatch({}, raw={})


def test_raw_items_in_samples_are_collated_once_per_item() -> None:
    import mmgraph as mg
    from mmgraph.data import RawItem

    pix = torch.randint(0, 255, (2, 3, 4, 4), dtype=torch.uint8)
    keyed = [mg.MultimodalSample(q=torch.randn(2, 3), image=RawItem(pix[i % 2], key=i % 2)) for i in range(5)]
    batch = mg.collate(keyed)
    assert batch.raw["image"].data.shape == (2, 3, 4, 4) and batch.raw["image"].index.tolist() == [0, 1, 0, 1, 0]
    views = [mg.MultimodalSample(q=torch.randn(2, 3), image=RawItem(pix[i % 2])) for i in range(4)]
    assert mg.collate(views).raw["image"].data.size(0) == 2  # the same memory is the same item
    one = mg.MultimodalSample(q=torch.randn(2, 3), image=mg.RawModality(pix, torch.tensor([1])))
    assert torch.equal(one.raw["image"].data, pix[1]) and one.modalities == ["q"]
    assert "image" not in one.without("image").raw


def test_raw_item_errors_name_the_modality_and_sample() -> None:
    import mmgraph as mg
    from mmgraph.data import RawItem

    a = mg.MultimodalSample(q=torch.randn(2, 3), image=RawItem(torch.zeros(3, 4, 4)))
    b = mg.MultimodalSample(q=torch.randn(2, 3), image=RawItem(torch.zeros(3, 5, 5)))
    c = mg.MultimodalSample(q=torch.randn(2, 3))
    with pytest.raises(ValueError, match="raw.*'image':.*\\(3.*4.*4\\).*in"):
        mg.collate([a, b])
    with pytest.raises(ValueError, match="raw.*modality.*'image':.*missing.*1"):
        mg.collate([a, c])
    with pytest.raises(ValueError, match="a.*sample.*RawModality.*2.*samples"):
        mg.MultimodalSample(image=mg.RawModality(torch.zeros(2, 3, 4, 4), torch.tensor([0, 1])))
    with pytest.raises(ValueError, match="key: expected a hashable value"):
        RawItem(torch.zeros(3), key=[1])


@pytest.mark.parametrize("data, words", [(torch.full((3, 4, 4), float("nan")), "raw item: data: expected finite values"),
                                         (torch.ones(3, 4, 4, dtype=torch.bool), "raw item: data: expected real numbers"),
                                         (torch.eye(4).to_sparse(), "raw item: data: expected a dense tensor")])
def test_raw_items_refuse_bad_values(data: torch.Tensor, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        RawItem(data)
