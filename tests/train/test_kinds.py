import pytest
import torch

from mmgraph.train.kinds import KINDS, classification_scores, get_kind, multilabel_scores, regression_scores


def test_classification_scores_match_definitions() -> None:
    y = torch.tensor([0, 0, 1, 2])
    logits = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 2]), 3).float()
    s = classification_scores(logits, y)
    assert s["acc"] == pytest.approx(0.75)
    # class 0: P 1 R 0.5 -> 2/3; class 1: P 0.5 R 1 -> 2/3; class 2: 1
    assert s["f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_regression_and_multilabel_scores() -> None:
    s = regression_scores(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 5.0]))
    assert s["mae"] == pytest.approx(2 / 3) and s["rmse"] == pytest.approx((4 / 3) ** 0.5)
    m = multilabel_scores(torch.tensor([[1.0, -1.0], [1.0, 1.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert m["exact"] == pytest.approx(0.5) and m["f1_micro"] == pytest.approx(0.8)


def test_kinds_have_losses_and_directions() -> None:
    out = torch.randn(4, 3, requires_grad=True)
    assert KINDS["classification"].loss(out, torch.tensor([0, 1, 2, 0])).ndim == 0
    assert KINDS["multilabel"].loss(out, torch.ones(4, 3)).ndim == 0
    assert KINDS["regression"].mode == "min" and KINDS["multilabel"].head == "classification"
    with pytest.raises(ValueError, match="kind: expected one of"):
        get_kind("ranking")
