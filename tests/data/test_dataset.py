import pytest
import torch

import mmgraph as mg
from mmgraph.data import MultimodalDataset, RawItem


def _samples(n: int, images: int = 0) -> list[mg.MultimodalSample]:
    pix = torch.randint(0, 255, (max(images, 1), 3, 8, 8), dtype=torch.uint8)
    out = []
    for i in range(n):
        mods = {"text": torch.full((2 + i % 3, 4), float(i))}
        if images:
            mods["image"] = RawItem(pix[i % images], key=f"img{i % images}")
        out.append(mg.MultimodalSample(mods, y=i % 2))
    return out


def test_from_a_list_indexes_and_batches() -> None:
    data = MultimodalDataset(_samples(6))
    assert len(data) == 6 and data[-1]["text"].x[0, 0] == 5.0
    batch = data.batch([4, 1])
    assert batch.batch_size == 2 and batch.y.tolist() == [0, 1]
    assert data.groups is None


def test_lazy_function_is_called_on_demand_and_checked() -> None:
    calls = []

    def get(i: int) -> mg.MultimodalSample:
        calls.append(i)
        return _samples(1)[0]

    data = MultimodalDataset(get=get, length=5)
    assert calls == [] and len(data) == 5
    data[3]
    assert calls == [3]
    bad = MultimodalDataset(get=lambda i: "oops", length=2)
    with pytest.raises(ValueError, match="get\\(1\\) returned str, expected a MultimodalSample"):
        bad[1]


def test_batch_function_dataset_splits_samples_back() -> None:
    images = torch.randint(0, 255, (3, 3, 8, 8), dtype=torch.uint8)

    def make(indices):
        idx = torch.as_tensor(indices)
        raw = mg.RawModality(images, idx // 2)
        text = mg.ModalityBatch(idx.float().reshape(-1, 1, 1).expand(-1, 2, 4).contiguous())
        return mg.MultimodalBatch({"text": text}, y=idx, raw={"image": raw})

    data = MultimodalDataset(batch=make, length=6, groups=[i // 2 for i in range(6)])
    sample = data[3]
    assert sample["text"].x.shape == (2, 4) and int(sample.y) == 3
    assert sample.raw["image"].key == 1 and torch.equal(sample.raw["image"].data, images[1])
    assert data.batch([0, 5]).raw["image"].index.tolist() == [0, 2]
    sub = data.subset([5, 4])
    assert sub.groups == [2, 2] and sub.batch([0]).y.tolist() == [5]


def test_groups_default_to_raw_item_keys() -> None:
    data = MultimodalDataset(_samples(6, images=3))
    assert data.groups == ["img0", "img1", "img2", "img0", "img1", "img2"]


def test_split_keeps_groups_whole_and_is_deterministic() -> None:
    data = MultimodalDataset(_samples(40, images=10))
    parts = data.split((0.6, 0.2, 0.2), seed=1)
    assert [len(p) for p in parts] == [24, 8, 8]
    keys = [set(p.groups) for p in parts]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    again = data.split((0.6, 0.2, 0.2), seed=1)
    assert [p.groups for p in again] == [p.groups for p in parts]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of samples, get=function or batch=function"),
        ({"samples": [1]}, "sample 0: expected a MultimodalSample, got int"),
        ({"get": lambda i: None}, "length: expected the number of samples"),
        ({"samples": _samples(2), "groups": [0]}, "groups: expected one key per sample \\(2\\), got 1"),
    ],
)
def test_bad_construction_names_the_argument(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MultimodalDataset(**kwargs)


def test_index_out_of_range_is_an_index_error() -> None:
    data = MultimodalDataset(_samples(3))
    with pytest.raises(IndexError, match="sample index in \\[0, 3\\)"):
        data[3]
    assert len(list(data)) == 3  # iteration stops at the end
