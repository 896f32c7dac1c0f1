"""The Trainer behind fit: its steps, its serialisable state, and the one rule of metric direction."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg
import mmgraph.train as mt
from mmgraph.train.defaults import default_loss, default_metrics
from tests.conftest import IN_DIMS, make_sample


def _data(n: int, seed: int) -> list[mg.MultimodalBatch]:
    g = torch.Generator().manual_seed(seed)
    samples = [make_sample(g, 3, 2, 2, y=i % 3) for i in range(n)]
    return [mg.collate(samples[i : i + 4]) for i in range(0, n, 4)]


def _trainer(seed: int = 0, **kwargs) -> mt.Trainer:
    mg.seed_everything(seed)
    model = mg.get_model("concat", in_dims=IN_DIMS, hidden=8, out_dim=3)
    options = dict(loss=default_loss("classification"), metrics=default_metrics("classification"), monitor="acc",
                   mode="max", epochs=3, lr=1e-2, weight_decay=0.0, scheduler="cosine", warmup_epochs=0,
                   patience=None, grad_clip=None, seed=seed, steps_per_epoch=2)
    return mt.Trainer(model, **{**options, **kwargs})


def test_steps_compose_into_a_run_and_the_state_continues_it() -> None:
    train, val = _data(8, 0), _data(8, 1)
    whole = _trainer()
    mg.seed_everything(0)
    ran = whole.run(train, val)
    assert ran.epochs_run == 3 and len(whole.history) == 3

    first = _trainer()
    mg.seed_everything(0)
    record = first.run_epoch(train, val, 1, first=True, bars=False)
    assert record["epoch"] == 1 and "val_acc" in record
    rng = torch.get_rng_state()
    state = first.state_dict()
    assert set(state) >= {"settings", "model", "optimizer", "scheduler", "history", "best_state"}
    second = _trainer(seed=0)
    second.load_state_dict(state)
    torch.set_rng_state(rng)
    assert second.next_epoch == 2
    resumed = second.run(train, val)
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in ran.history]
    for k, v in whole.model.state_dict().items():
        assert torch.equal(v, second.model.state_dict()[k]), k


def test_load_state_dict_refuses_other_settings() -> None:
    state = _trainer().state_dict()
    with pytest.raises(ValueError, match=r"other.*settings.*\(lr:.*0.01.*0.02\)"):
        _trainer(lr=2e-2).load_state_dict(state)


@pytest.mark.parametrize("name, mode", [("mae", "min"), ("val_loss", "min"), ("mean_rank", "min"), ("rmse", "min"),
                                        ("acc", "max"), ("t2i_r1", "max"), ("corr", "max")])
def test_metric_mode_is_one_rule_for_fit_and_reports(name: str, mode: str) -> None:
    from mmgraph.bench.report import lower_is_better

    assert mt.metric_mode(name) == mode
    assert lower_is_better(name) == (mode == "min")


def test_fit_minimises_a_custom_rank_monitor() -> None:
    """``monitor="mean_rank"`` used to be maximised by fit (its rule lacked "rank")."""
    model = mg.get_model("concat", in_dims=IN_DIMS, hidden=8, out_dim=3)
    ranks = iter([3.0, 1.0, 2.0])
    r = mt.fit(model, _data(8, 0), _data(4, 1), epochs=3, metrics=lambda p, y: {"mean_rank": next(ranks)},
               monitor="mean_rank", progress=False)
    assert (r.mode, r.best_epoch, r.best_val) == ("min", 2, {"mean_rank": 1.0})
