"""mmgraph.train.fit / evaluate / predict on tiny learnable tasks."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import mmgraph as mg
import mmgraph.train as mt
from mmgraph.train.fit import RESUME_FILE
from mmgraph.train.kinds import regression_scores
from tests.conftest import IN_DIMS, make_sample

TIMING = ("seconds", "train_seconds")


def class_samples(n: int, seed: int) -> list[mg.MultimodalSample]:
    """Class ``i % 3``, readable from the text modality (feature ``y`` shifted by +3)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        y = i % 3
        s = make_sample(g, 3, 2, 2, y=y)
        s["text"].x[:, y] += 3.0
        out.append(s)
    return out


def score_samples(n: int, seed: int, sign: float = 1.0) -> list[mg.MultimodalSample]:
    """Sentiment-like scores in [-3, 3] readable from text feature 0; targets multiplied by ``sign``."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        score = float(torch.empty(()).uniform_(-3, 3, generator=g))
        s = make_sample(g, 3, 2, 2, y=None)
        s["text"].x[:, 0] = score
        s.y = torch.tensor(sign * score)
        out.append(s)
    return out


def batches(samples: list[mg.MultimodalSample], size: int = 8) -> list[mg.MultimodalBatch]:
    return [mg.collate(samples[i : i + size]) for i in range(0, len(samples), size)]


def concat(task: str = "classification", out_dim: int = 3, dropout: float = 0.0, seed: int = 0):
    torch.manual_seed(seed)
    return mg.get_model("concat", in_dims=IN_DIMS, hidden=8, out_dim=out_dim, task=task, dropout=dropout)


@pytest.fixture(scope="module")
def cls_data() -> dict[str, list[mg.MultimodalBatch]]:
    return {"train": batches(class_samples(24, 0)), "val": batches(class_samples(12, 1)), "test": batches(class_samples(12, 2))}


def without_timing(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in TIMING} for h in history]


def test_learns_a_readable_class(cls_data) -> None:
    model = concat()
    r = mt.fit(model, cls_data["train"], cls_data["val"], test=cls_data["test"], epochs=15, lr=2e-2, progress=False)
    assert isinstance(r, mt.FitResult)
    assert r.best_val["acc"] >= 0.9 and r.test["acc"] >= 0.9
    assert r.epochs_run == len(r.history) == 15 and not r.stopped_early
    assert (r.monitor, r.mode) == ("acc", "max")
    assert r.best_val["acc"] == max(h["val_acc"] for h in r.history)
    assert r.history[r.best_epoch - 1]["val_acc"] == r.best_val["acc"]
    assert [h["epoch"] for h in r.history] == list(range(1, 16))
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]
    assert set(r.history[0]) == {"epoch", "train_loss", "val_acc", "lr", "train_seconds", "seconds"}
    assert r.train_s_per_epoch > 0
    assert not model.training


def test_same_seed_same_run(tmp_path: Path) -> None:
    """Shuffled DataLoader + dropout: both use the seeded global RNG."""
    loader = DataLoader(class_samples(24, 0), batch_size=8, shuffle=True, collate_fn=mg.collate)
    val = DataLoader(class_samples(12, 1), batch_size=6, collate_fn=mg.collate)
    init = concat(dropout=0.3)
    runs = []
    for seed in (5, 5, 6):
        model = copy.deepcopy(init)
        r = mt.fit(model, loader, val, epochs=4, lr=1e-2, seed=seed, progress=False)
        runs.append((r, model))
    (r1, m1), (r2, m2), (r3, m3) = runs
    assert without_timing(r1.history) == without_timing(r2.history)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert without_timing(r1.history) != without_timing(r3.history)  # the seed matters


class Interrupt(Exception):
    """Raised from the log callback to stop a run between epochs, as a killed process would."""


def stop_after(epoch: int):
    def log(record: dict) -> None:
        if record["epoch"] == epoch:
            raise Interrupt

    return log


@pytest.mark.parametrize("loader_generator", [True, False])
def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path: Path, loader_generator: bool) -> None:
    """Shuffling (the loader's own generator, or the global RNG), dropout and the cosine schedule all resume."""

    def loader() -> DataLoader:
        g = torch.Generator().manual_seed(3) if loader_generator else None
        return DataLoader(class_samples(24, 0), batch_size=8, shuffle=True, collate_fn=mg.collate, generator=g)

    val = DataLoader(class_samples(12, 1), batch_size=6, collate_fn=mg.collate)
    init = concat(dropout=0.3)
    settings = dict(epochs=5, lr=1e-2, seed=4, progress=False)
    whole_model = copy.deepcopy(init)
    whole = mt.fit(whole_model, loader(), val, **settings)
    model = copy.deepcopy(init)
    with pytest.raises(Interrupt):
        mt.fit(model, loader(), val, checkpoint_dir=tmp_path, resume=True, log=stop_after(2), **settings)
    assert (tmp_path / RESUME_FILE).exists()
    fresh = concat(dropout=0.3, seed=9)  # a new process: other initial weights, fresh generators
    seen: list[int] = []
    resumed = mt.fit(fresh, loader(), val, checkpoint_dir=tmp_path, resume=True,
                     log=lambda r: seen.append(r["epoch"]), **settings)
    assert seen == [3, 4, 5]  # epochs 1-2 were not trained again
    assert without_timing(resumed.history) == without_timing(whole.history)
    assert resumed.best_epoch == whole.best_epoch and resumed.best_val == whole.best_val
    for (k, a), b in zip(whole_model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), k
    # a finished run is not trained again
    again = concat(dropout=0.3, seed=11)
    done = mt.fit(again, loader(), val, checkpoint_dir=tmp_path, resume=True, log=stop_after(1), **settings)
    assert without_timing(done.history) == without_timing(whole.history)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), again.state_dict().values()))


def test_a_task_loader_with_modality_dropout_resumes_exactly(tmp_path: Path) -> None:
    """Every generator the batches draw from (shuffling and modality dropout) is saved and restored."""
    from mmgraph.bench import Task

    task = Task("t", class_samples(24, 0), class_samples(12, 1), class_samples(12, 2), out_dim=3, modality_dropout=0.4)
    loader = lambda: task.batches("train", 8, shuffle=True, seed=5)  # noqa: E731 - a fresh loader per process
    assert len(loader().generators) == 2
    val = task.batches("val", 6, shuffle=False)
    settings = dict(epochs=4, lr=1e-2, seed=4, progress=False)
    whole_model = concat()
    whole = mt.fit(whole_model, loader(), val, **settings)
    with pytest.raises(Interrupt):
        mt.fit(concat(), loader(), val, checkpoint_dir=tmp_path, resume=True, log=stop_after(2), **settings)
    fresh = concat(seed=9)
    resumed = mt.fit(fresh, loader(), val, checkpoint_dir=tmp_path, resume=True, **settings)
    assert without_timing(resumed.history) == without_timing(whole.history)
    for (k, a), b in zip(whole_model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), k


def test_history_tags_mark_the_epochs_of_each_call(tmp_path: Path, cls_data) -> None:
    """A run resumed elsewhere keeps, per epoch, the tags of the call that ran it."""
    settings = dict(epochs=3, lr=1e-2, progress=False, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(Interrupt):
        mt.fit(concat(), cls_data["train"], cls_data["val"], log=stop_after(2),
               history_tags={"processor": "cpu A", "threads": 1}, **settings)
    r = mt.fit(concat(), cls_data["train"], cls_data["val"], history_tags={"processor": "cpu B", "threads": 2},
               **settings)
    assert [(h["epoch"], h["processor"], h["threads"]) for h in r.history] == [
        (1, "cpu A", 1), (2, "cpu A", 1), (3, "cpu B", 2)]


@pytest.mark.parametrize(("tags", "match"), [
    (["processor"], r"history_tags: expected a dict of plain values, got list"),
    ({"epoch": 1}, r"history_tags: key 'epoch' is not allowed"),
    ({"val_acc": 1.0}, r"history_tags: key 'val_acc' is not allowed"),
    ({"machine": {"cpu": "x"}}, r"history_tags\['machine'\]: expected a str, int, float or bool, got dict"),
])
def test_history_tags_are_checked(cls_data, tags, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mt.fit(concat(), cls_data["train"], cls_data["val"], epochs=1, progress=False, history_tags=tags)


def test_resume_refuses_other_settings_and_needs_a_checkpoint_dir(tmp_path: Path, cls_data) -> None:
    with pytest.raises(ValueError, match="resume: needs checkpoint_dir"):
        mt.fit(concat(), cls_data["train"], cls_data["val"], epochs=1, resume=True, progress=False)
    with pytest.raises(ValueError, match="resume: expected a bool"):
        mt.fit(concat(), cls_data["train"], cls_data["val"], epochs=1, resume="yes", checkpoint_dir=tmp_path,
               progress=False)
    mt.fit(concat(), cls_data["train"], cls_data["val"], epochs=2, lr=1e-2, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"other.*\(epochs:.*2.*3.*0.01"):
        mt.fit(concat(), cls_data["train"], cls_data["val"], epochs=3, lr=2e-2, checkpoint_dir=tmp_path, resume=True,
               progress=False)
    # without resume=True the saved state is ignored and overwritten
    r = mt.fit(concat(), cls_data["train"], cls_data["val"], epochs=3, lr=2e-2, checkpoint_dir=tmp_path, progress=False)
    assert r.epochs_run == 3


def test_early_stopping_on_a_plateau(cls_data) -> None:
    model = concat()
    before = copy.deepcopy(model.state_dict())
    r = mt.fit(model, cls_data["train"], cls_data["val"], epochs=10, lr=0.0, patience=1, progress=False)
    assert r.epochs_run == 2 < 10 and r.stopped_early
    assert r.best_epoch == 1  # equal values are no improvement
    assert r.history[0]["val_acc"] == r.history[1]["val_acc"]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_test_metrics_come_from_the_best_val_epoch(tmp_path: Path) -> None:
    # train on scores, validate/test on negated scores: the better the fit, the worse on val
    train = batches(score_samples(24, 0))
    val, test = batches(score_samples(12, 1, sign=-1.0)), batches(score_samples(12, 2, sign=-1.0))
    model = concat(task="regression", out_dim=1)
    r = mt.fit(model, train, val, test=test, epochs=6, lr=3e-2, checkpoint_dir=tmp_path, progress=False)
    assert (r.monitor, r.mode) == ("mae", "min")
    assert r.best_epoch < r.epochs_run == 6
    assert r.best_val["mae"] == min(h["val_mae"] for h in r.history) < r.history[-1]["val_mae"]
    # the model holds the best weights: evaluating it reproduces best_val and the test metrics
    assert mt.evaluate(model, val) == r.best_val
    assert mt.evaluate(model, test) == r.test
    last = concat(task="regression", out_dim=1, seed=1)
    assert mt.load_checkpoint(tmp_path / "last.safetensors", last)["epoch"] == 6
    assert mt.evaluate(last, test)["mae"] != r.test["mae"]


def test_checkpoints_are_written(tmp_path: Path, cls_data) -> None:
    model = concat()
    ckpt = tmp_path / "run"
    r = mt.fit(model, cls_data["train"], cls_data["val"], epochs=4, lr=2e-2, checkpoint_dir=ckpt, seed=3,
               progress=False)
    names = sorted(p.name for p in ckpt.iterdir())
    parts = [f"resume.4.{key}.pt" for key in ("best_state", "model", "optimizer")]  # only the last epoch's
    assert names == ["best.safetensors", mt.optimizer_path(ckpt / "last.safetensors").name, "last.safetensors",
                     *parts, RESUME_FILE]
    best = concat(seed=9)
    meta = mt.load_checkpoint(ckpt / "best.safetensors", best)
    assert meta["epoch"] == r.best_epoch and meta["val"] == r.best_val
    assert (meta["monitor"], meta["mode"], meta["seed"]) == ("acc", "max", 3)
    for k, v in model.state_dict().items():
        assert torch.equal(v, best.state_dict()[k]), k
    last = concat(seed=9)
    opt = torch.optim.AdamW(last.parameters())
    assert mt.load_checkpoint(ckpt / "last.safetensors", last, optimizer=opt)["epoch"] == 4
    assert len(opt.state_dict()["state"]) > 0


def test_regression_uses_l1_and_generic_regression_metrics() -> None:
    train, val = batches(score_samples(20, 0)), batches(score_samples(8, 1))
    model = concat(task="regression", out_dim=1)
    r = mt.fit(model, train, val, epochs=1, lr=0.0, progress=False)
    preds, targets = mt.predict(model, train)
    assert preds.shape == (20, 1) and targets.shape == (20,)
    assert r.history[0]["train_loss"] == pytest.approx(F.l1_loss(preds.squeeze(1), targets).item(), rel=1e-5)
    assert set(r.best_val) == {"mae", "rmse", "corr", "r2"}  # sentiment's acc2/acc7 are the task's, not a default
    assert r.best_val == pytest.approx(regression_scores(*mt.predict(model, val)))


def test_classification_uses_cross_entropy(cls_data) -> None:
    model = concat()
    r = mt.fit(model, cls_data["train"], cls_data["val"], epochs=1, lr=0.0, progress=False)
    preds, targets = mt.predict(model, cls_data["train"])
    assert r.history[0]["train_loss"] == pytest.approx(F.cross_entropy(preds, targets).item(), rel=1e-5)


def test_learning_rate_schedule() -> None:
    train, val = batches(class_samples(9, 0), size=3), batches(class_samples(3, 1))  # 3 steps per epoch
    r = mt.fit(concat(), train, val, epochs=3, lr=0.1, warmup_epochs=1, progress=False)
    # steps 0..8, warm-up over 3 steps, then cosine over 6: step 0 -> 1/3, step 3 -> 1, step 6 -> cos(pi/2)
    assert [h["lr"] for h in r.history] == pytest.approx([0.1 / 3, 0.1, 0.1 * 0.5 * (1 + math.cos(math.pi / 2))])
    r = mt.fit(concat(), train, val, epochs=3, lr=0.1, scheduler="none", progress=False)
    assert [h["lr"] for h in r.history] == pytest.approx([0.1] * 3)


def test_custom_loss_metrics_monitor_log_and_grad_clip(cls_data) -> None:
    seen: list[dict] = []

    def neg_error(preds: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        return {"error": float((preds.argmax(-1) != targets).float().mean()), "n": float(len(targets))}

    r = mt.fit(
        concat(), cls_data["train"], cls_data["val"], loss=lambda out, y: F.cross_entropy(out, y, label_smoothing=0.1),
        metrics=neg_error, monitor="error", epochs=3, lr=2e-2, grad_clip=0.5, log=seen.append, progress=False,
    )
    assert r.mode == "min"  # inferred from the name
    assert r.best_val["error"] == min(h["val_error"] for h in r.history)
    assert seen == r.history


def test_predict_and_evaluate(cls_data, batch: mg.MultimodalBatch) -> None:
    model = concat()
    model.train()
    preds, targets = mt.predict(model, cls_data["val"])
    assert preds.shape == (12, 3) and targets.tolist() == [i % 3 for i in range(12)]
    assert model.training  # mode restored
    assert mt.evaluate(model, cls_data["val"]) == mt.classification_metrics(preds, targets)
    unlabeled = mg.MultimodalBatch(dict(batch.items()))
    preds, targets = mt.predict(model, [unlabeled])
    assert preds.shape == (4, 3) and targets is None
    with pytest.raises(ValueError, match="no targets"):
        mt.evaluate(model, [unlabeled])
    with pytest.raises(ValueError, match="some batches have targets"):
        mt.predict(model, [batch, unlabeled])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "epochs: expected an int >= 1"),
        ({"epochs": 2.5}, "epochs"),
        ({"lr": -1.0}, "lr: expected a non-negative"),
        ({"lr": float("nan")}, "lr: expected a finite"),
        ({"scheduler": "step"}, r"scheduler: expected one of \['cosine', 'none'\]"),
        ({"monitor": "f1"}, r"'f1' is not a validation metric; available: \['acc'\]"),
        ({"mode": "up"}, "mode"),
        ({"patience": 0}, "patience"),
        ({"warmup_epochs": 5, "epochs": 2}, "warmup_epochs"),
        ({"grad_clip": 0.0}, "grad_clip"),
    ],
)
def test_bad_arguments(cls_data, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mt.fit(concat(), cls_data["train"], cls_data["val"], progress=False, **{"epochs": 1, **kwargs})


def test_bad_data(cls_data, batch: mg.MultimodalBatch) -> None:
    model = concat()
    unlabeled = mg.MultimodalBatch(dict(batch.items()))
    with pytest.raises(ValueError, match="train: is empty"):
        mt.fit(model, [], cls_data["val"], epochs=1, progress=False)
    with pytest.raises(ValueError, match="val: is empty"):
        mt.fit(model, cls_data["train"], [], epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"train:.*1.*targets.*\(y.*None\)"):
        mt.fit(model, [batch, unlabeled], cls_data["val"], epochs=1, progress=False)
    with pytest.raises(ValueError, match="one-shot iterator"):
        mt.fit(model, iter(cls_data["train"]), cls_data["val"], epochs=1, progress=False)
    emb = mg.get_model("concat", in_dims=IN_DIMS, hidden=8, out_dim=4, task="embedding")
    with pytest.raises(ValueError, match="no default loss for task 'embedding'"):
        mt.fit(emb, cls_data["train"], cls_data["val"], epochs=1, progress=False)


class WithAuxiliary(torch.nn.Module):
    """A concat model plus a parameter that only an auxiliary loss (set in the training forward) reaches."""

    task = "classification"

    def __init__(self, aux: str) -> None:
        super().__init__()
        self.model = concat()
        self.extra = torch.nn.Parameter(torch.zeros(()))
        self.aux = aux
        self.auxiliary_loss = None

    def forward(self, batch: mg.MultimodalBatch) -> torch.Tensor:
        if self.aux == "scalar":
            self.auxiliary_loss = (self.extra - 1.0) ** 2 if self.training else None
        elif self.aux == "vector":
            self.auxiliary_loss = self.extra.expand(2)
        return self.model(batch)


@pytest.mark.parametrize("aux", ["scalar", "none"])
def test_fit_adds_a_models_auxiliary_loss(cls_data, aux: str) -> None:
    mg.seed_everything(0)
    model = WithAuxiliary(aux)
    mt.fit(model, cls_data["train"], cls_data["val"], epochs=2, lr=0.05, progress=False)
    if aux == "scalar":
        assert 0.05 < float(model.extra.detach()) <= 1.2  # pulled towards 1 by the auxiliary loss alone
    else:
        assert float(model.extra.detach()) == 0.0


def test_fit_refuses_a_non_scalar_auxiliary_loss(cls_data) -> None:
    with pytest.raises(ValueError, match=r"model.auxiliary_loss:.*None.*scalar.*tensor.*\(2,\)"):
        mt.fit(WithAuxiliary("vector"), cls_data["train"], cls_data["val"], epochs=1, progress=False)


def with_targets(data: list[mg.MultimodalBatch], batch: int, sample: int, value: float) -> list[mg.MultimodalBatch]:
    """A copy of ``data`` whose batch ``batch`` has target ``value`` at ``sample`` (as float if ``value`` is)."""
    out = list(data)
    y = out[batch].y.clone().to(torch.float if isinstance(value, float) else out[batch].y.dtype)
    y[sample] = value
    out[batch] = mg.MultimodalBatch(dict(out[batch].items()), y=y)
    return out


class OneBatch:
    """A re-iterable over one batch: it yields the batch's modality names."""

    def __init__(self, batch: mg.MultimodalBatch) -> None:
        self.batch = batch

    def __iter__(self):
        return iter(self.batch)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda d: d[0], r"train: expected an iterable of MultimodalBatch .*got a single MultimodalBatch; pass \[batch\]"),
        (lambda d: class_samples(4, 0), r"got a list of MultimodalSample; .*mmgraph\.collate"),
        (lambda d: class_samples(1, 0)[0], r"got a single MultimodalSample"),
        (lambda d: torch.zeros(4, 3), r"expected an iterable of MultimodalBatch .*got Tensor"),
        (lambda d: {"text": d[0]["text"]}, r"expected an iterable of MultimodalBatch .*got dict"),
        (lambda d: [torch.zeros(3)], r"expected an iterable of MultimodalBatch .*batch 0 is a Tensor"),
        (lambda d: OneBatch(d[0]), r"train: .*batch 0 is a str \('audio'\): iterating over one MultimodalBatch"),
    ],
)
def test_data_of_the_wrong_type_says_what_is_expected(cls_data, make, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mt.fit(concat(), make(cls_data["train"]), cls_data["val"], epochs=1, progress=False)


@pytest.mark.parametrize(
    ("batch", "sample", "value", "match"),
    [
        (1, 2, 3, r"train: batch 1, sample 2: class target 3 is out of range; expected class indices in \[0, 3\)"),
        (0, 5, -1, r"train: batch 0, sample 5: class target -1 is out of range"),
        (2, 0, 1.5, r"train: batch 2, sample 0: class target 1.5 is not a class index; expected integers in \[0, 3\)"),
        (0, 1, float("nan"), r"batch 0, sample 1: class target nan is not a class index"),
    ],
)
def test_bad_class_targets_name_the_batch_and_sample(cls_data, batch: int, sample: int, value, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mt.fit(concat(), with_targets(cls_data["train"], batch, sample, value), cls_data["val"], epochs=1, progress=False)
    in_val = f"val: batch 0, sample {sample}: " + match.split(f"sample {sample}: ")[1]
    with pytest.raises(ValueError, match=in_val):
        mt.fit(concat(), cls_data["train"], with_targets(cls_data["val"], 0, sample, value), epochs=1, progress=False)


def test_integer_valued_float_class_targets_and_soft_labels_are_accepted(cls_data) -> None:
    as_float = [mg.MultimodalBatch(dict(b.items()), y=b.y.float()) for b in cls_data["train"]]
    mt.fit(concat(), as_float, cls_data["val"], epochs=1, progress=False)
    soft = [mg.MultimodalBatch(dict(b.items()), y=F.one_hot(b.y, 3).float()) for b in cls_data["train"]]
    mt.fit(concat(), soft, cls_data["val"], epochs=1, progress=False)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_regression_targets_are_refused(value: float) -> None:
    train, val = batches(score_samples(16, 0)), batches(score_samples(8, 1))
    with pytest.raises(ValueError, match=r"train:.*1.*3:.*regression.*\[(nan|inf)\]"):
        mt.fit(concat("regression", out_dim=1), with_targets(train, 1, 3, value), val, epochs=1, progress=False)


def test_a_custom_loss_gets_its_targets_unchecked(cls_data) -> None:
    data = with_targets(cls_data["train"], 0, 0, 7)
    mt.fit(concat(), data, cls_data["val"], epochs=1, progress=False, loss=lambda out, y: out.mean() * 0 + y.float().mean())


def test_progress_in_a_log_is_one_line_per_epoch(cls_data, capsys: pytest.CaptureFixture[str]) -> None:
    mt.fit(concat(), cls_data["train"], cls_data["val"], epochs=3, lr=1e-2, progress=True)
    err = capsys.readouterr().err  # captured: not a terminal
    assert "\r" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("fit: epoch 1/3: train_loss ")
    assert all(" val_acc " in line and line.endswith("s") for line in lines)


def test_a_non_finite_loss_stops_training_before_the_step(cls_data) -> None:
    model = concat()
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def loss(out, y):
        return F.cross_entropy(out, y) * float("inf")

    with pytest.raises(ValueError, match=r"train:.*epoch.*1.*batch.*0"):
        mt.fit(model, cls_data["train"], cls_data["val"], epochs=1, loss=loss, metrics=lambda o, y: {"acc": 0.0},
               monitor="acc", mode="max", progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def _interrupted(cls_data, ckpt) -> None:
    mt.fit(concat(), cls_data["train"], cls_data["val"], epochs=1, checkpoint_dir=ckpt, seed=0, progress=False)


def _resume(cls_data, ckpt):
    return mt.fit(concat(), cls_data["train"], cls_data["val"], epochs=2, checkpoint_dir=ckpt, seed=0, resume=True,
                  progress=False)


def test_resume_parts_must_lie_next_to_resume_pt(tmp_path: Path, cls_data) -> None:
    ckpt = tmp_path / "run"
    _interrupted(cls_data, ckpt)
    state = torch.load(ckpt / RESUME_FILE, weights_only=True)
    (tmp_path / "outside_model.pt").write_bytes((ckpt / state["parts"]["model"]).read_bytes())
    state["parts"]["model"] = "../outside_model.pt"
    torch.save(state, ckpt / RESUME_FILE)
    with pytest.raises(ValueError, match=r"resume:.*.*resume.pt.*.*'model'.*=.*'../outside_model.pt'"):
        _resume(cls_data, ckpt)


@pytest.mark.parametrize("which", ["resume.pt", "part"])
def test_corrupt_resume_files_are_named(tmp_path: Path, cls_data, which: str) -> None:
    ckpt = tmp_path / "run"
    _interrupted(cls_data, ckpt)
    target = ckpt / RESUME_FILE if which == "resume.pt" else sorted(ckpt.glob("resume.1.model.pt"))[0]
    target.write_bytes(target.read_bytes()[:100])
    with pytest.raises(ValueError, match=rf"resume: cannot read .*{target.name}"):
        _resume(cls_data, ckpt)
