"""Tests for the task heads in :mod:`mmgraph.nn.heads`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmgraph.nn.heads import MLP, TASKS, ClassificationHead, EmbeddingHead, RegressionHead, make_head


def linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize(
    "task, cls", [("classification", ClassificationHead), ("regression", RegressionHead), ("embedding", EmbeddingHead)]
)
@pytest.mark.parametrize("out_dim", [1, 5])
def test_make_head_shapes(task: str, cls: type, out_dim: int) -> None:
    torch.manual_seed(0)
    head = make_head(task, 7, out_dim, hidden=11)
    assert type(head) is cls
    out = head(torch.randn(4, 7))
    assert out.shape == (4, out_dim) and torch.isfinite(out).all()
    dims = [(lin.in_features, lin.out_features) for lin in linears(head)]
    assert dims == [(7, 11), (11, out_dim)]


def test_tasks() -> None:
    assert TASKS == ("classification", "regression", "embedding")


def test_hidden_defaults_to_in_dim() -> None:
    head = make_head("classification", 9, 2)
    assert [(lin.in_features, lin.out_features) for lin in linears(head)] == [(9, 9), (9, 2)]


def test_embedding_unit_norm() -> None:
    torch.manual_seed(0)
    head = make_head("embedding", 6, 4)
    z = torch.randn(8, 6) * 10
    out = head(z)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(8))
    # and it is the normalised MLP output, not something else of unit norm
    raw = head.mlp(z)
    torch.testing.assert_close(out, raw / raw.norm(dim=-1, keepdim=True))


def test_classification_is_mlp_output() -> None:
    torch.manual_seed(0)
    head = make_head("classification", 6, 3)
    z = torch.randn(5, 6)
    l1, l2 = linears(head)
    torch.testing.assert_close(head(z), l2(torch.nn.functional.gelu(l1(z))))


def test_make_head_errors() -> None:
    with pytest.raises(ValueError, match="task: expected one of .*'ranking'"):
        make_head("ranking", 4, 2)
    for bad in (0, -1, 2.0, "3", None):
        with pytest.raises(ValueError, match="out_dim: expected a positive int"):
            make_head("classification", 4, bad)


@pytest.mark.parametrize("num_layers", [1, 2, 3, 5])
def test_mlp_num_layers(num_layers: int) -> None:
    torch.manual_seed(0)
    mlp = MLP(6, 10, 3, num_layers=num_layers, dropout=0.1)
    lins = linears(mlp)
    assert len(lins) == num_layers
    assert lins[0].in_features == 6 and lins[-1].out_features == 3
    assert all(lin.in_features == 10 for lin in lins[1:]) and all(lin.out_features == 10 for lin in lins[:-1])
    assert isinstance(mlp[-1], nn.Linear)  # ends in a plain Linear
    assert sum(isinstance(m, nn.GELU) for m in mlp) == num_layers - 1
    assert sum(isinstance(m, nn.Dropout) for m in mlp) == num_layers - 1
    assert (mlp.in_dim, mlp.out_dim) == (6, 3)
    assert mlp.eval()(torch.randn(2, 6)).shape == (2, 3)


@pytest.mark.parametrize("num_layers", [0, -2])
def test_mlp_num_layers_error(num_layers: int) -> None:
    with pytest.raises(ValueError, match="num_layers: expected >= 1"):
        MLP(4, 4, 2, num_layers=num_layers)


def test_reset_parameters() -> None:
    torch.manual_seed(0)
    head = make_head("regression", 4, 2)
    before = [p.clone() for p in head.parameters()]
    head.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, head.parameters()))
