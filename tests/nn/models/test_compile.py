"""``torch.compile`` on every graph model with a prebuilt graph: the eager outputs and gradients, on new shapes too."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import mmgraph as mg

from .test_prebuilt_graphs import GRAPH_MODELS, SAMPLES, _model, _sample

pytestmark = pytest.mark.slow  # inductor compiles C++ kernels: tens of seconds per model


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_compiled_model_matches_eager(name: str) -> None:
    torch._dynamo.reset()
    model = _model(name)
    compiled = torch.compile(model, dynamic=True)
    other = [_sample(2, 7, 3, 10), _sample(6, 3, 0, 11), _sample(5, 5, 4, 12)]  # other sizes: no new trace needed
    for samples in (SAMPLES, other):
        batch = model.collate_fn()(samples)
        model.zero_grad(set_to_none=True)
        want = model(batch)
        F.cross_entropy(want, batch.y).backward()
        grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
        model.zero_grad(set_to_none=True)
        got = compiled(batch)
        F.cross_entropy(got, batch.y).backward()
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
        for k, p in model.named_parameters():
            if k in grads:
                torch.testing.assert_close(p.grad, grads[k], rtol=1e-4, atol=1e-5, msg=f"gradient of {k}")
