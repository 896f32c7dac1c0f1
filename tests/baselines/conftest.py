"""Shared fixtures for the baseline-model tests: tiny random multimodal samples."""

from __future__ import annotations

from typing import Callable, Optional

import pytest
import torch

import mmgraph.baselines  # noqa: F401 - registers the baselines
from mmgraph.data import Modality, MultimodalSample, collate

#: Feature dimension of each modality used throughout the tests.
IN_DIMS = {"audio": 3, "image": 4, "text": 6}
HIDDEN = 8
MODEL_NAMES = ["concat", "attention", "late", "tensor", "rn"]

SampleFactory = Callable[..., MultimodalSample]


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Seed every test; run single-threaded (tiny tensors: threads only add overhead, badly so on
    a busy machine), restoring the previous thread count afterwards."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_sample() -> SampleFactory:
    """``make_sample(text=3, image=2, dims=IN_DIMS)``: a sample with that many random elements per modality."""

    def factory(dims: Optional[dict[str, int]] = None, **lengths: int) -> MultimodalSample:
        dims = IN_DIMS if dims is None else dims
        return MultimodalSample({name: Modality(torch.randn(n, dims[name])) for name, n in lengths.items()})

    return factory


@pytest.fixture
def samples(make_sample: SampleFactory) -> list[MultimodalSample]:
    """Three samples of different lengths; the second lacks ``image``, the third lacks ``audio``."""
    return [
        make_sample(text=3, image=2, audio=4),
        make_sample(text=5, audio=1),
        make_sample(text=1, image=3),
    ]


@pytest.fixture
def batch(samples: list[MultimodalSample]):
    return collate(samples)
