import json

import pytest
import torch

import mmgraph as mg
from mmgraph.bench import Task, match_budget, match_widths, run
from mmgraph.bench.runner import build_model
from mmgraph.data import MultimodalDataset, RawItem
from mmgraph.nn import GridCNN


def _vqa(n: int, seed: int) -> MultimodalDataset:
    """Tiny images (uint8) with 4 questions each; the answer is the image's dominant channel."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(n):
        image = torch.randint(0, 60, (3, 16, 16), generator=g, dtype=torch.uint8)
        c = i % 3
        image[c] += 150
        for k in range(4):
            q = torch.zeros(2, 3)
            q[0, k % 3] = 1.0
            samples.append(mg.MultimodalSample(question=q, image=RawItem(image, key=i), y=c))
    return MultimodalDataset(samples)


def _features(n: int, kind: str) -> list[mg.MultimodalSample]:
    g = torch.Generator().manual_seed(n)
    out = []
    for i in range(n):
        a, b = torch.randn(3, 4, generator=g), torch.randn(2, 5, generator=g)
        y = {"classification": i % 3, "regression": [float(a.mean())], "multilabel": [i % 2, (i // 2) % 2]}[kind]
        out.append(mg.MultimodalSample(a=a, b=b, y=y))
    return out


def _pixel_task() -> Task:
    cnn = lambda: GridCNN(channels=(8, 8))  # noqa: E731
    return Task("tiny-vqa", _vqa(12, 0), _vqa(4, 1), _vqa(4, 2), classes=["red", "green", "blue"],
                extractors={"image": cnn}, query="question", condition="question")


def test_task_from_user_data_gives_every_model_the_same_inputs() -> None:
    task = _pixel_task()
    task.load(quick=False)
    assert task.in_dims() == {"image": 10, "question": 3} and task.out_dim == 3
    assert task.metric_names == ("acc", "f1_macro")
    kw = task.model_kwargs("graph-relational", 16)
    assert kw["condition"] == "question" and isinstance(kw["extractors"]["image"], GridCNN)
    assert task.model_kwargs("attention", 16)["query"] == "question" and "condition" not in task.model_kwargs("graph-gat", 16)
    a, b = build_model(task, "concat", 16, seed=0), build_model(task, "concat", 16, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a.extractors["image"] is not b.extractors["image"]
    batches = list(task.batches("train", 8, shuffle=True))
    assert [(x.batch_size, x.raw["image"].data.size(0)) for x in batches] == [(8, 2)] * 6  # whole images
    metrics = task.evaluate(a, "test", 8)
    assert set(metrics) == {"acc", "f1_macro"} and 0 <= metrics["acc"] <= 1
    example = task.example("test", 5)
    assert example.truth in ("red", "green", "blue") and example.image.shape == (3, 16, 16)


@pytest.mark.parametrize("kind", ["classification", "regression", "multilabel"])
def test_every_kind_trains_and_scores(kind: str, tmp_path) -> None:
    classes = {"classification": ["x", "y", "z"], "regression": None, "multilabel": ["p", "q"]}[kind]
    task = Task(f"toy-{kind}", _features(48, kind), _features(16, kind), _features(16, kind), kind=kind,
                classes=classes, query="a", ablations=("mae",) if kind == "regression" else ())
    results = run(task, models=["graph-gat", "concat"], seeds=1, out=str(tmp_path), progress=False, say=lambda s: None,
                  epochs=1, lrs=(1e-3,), hidden=16, batch_size=16)
    names = set(results["models"]["concat"]["metrics"])
    expected = {"classification": {"acc", "f1_macro"}, "multilabel": {"f1_micro", "f1_macro", "exact"},
                "regression": {"mae", "rmse", "corr", "r2", "mae_without_a", "mae_without_b"}}[kind]
    assert names == expected
    assert (tmp_path / "results.md").is_file() and json.loads((tmp_path / "results.json").read_text())["task"] == f"toy-{kind}"
    assert task.monitor == {"classification": "acc", "regression": "mae", "multilabel": "f1_micro"}[kind]


def test_user_metrics_are_recorded(tmp_path) -> None:
    def top(out, y):
        return {"acc_top2": float((out.topk(2, -1).indices == y.reshape(-1, 1)).any(-1).float().mean())}

    task = Task("toy", _features(24, "classification"), _features(8, "classification"), _features(8, "classification"),
                out_dim=3, metrics=top, monitor="acc_top2")
    results = run(task, models=["concat"], seeds=[0], out=str(tmp_path), progress=False, say=lambda s: None,
                  epochs=1, lrs=(1e-3,), hidden=16)
    assert set(results["models"]["concat"]["metrics"]) == {"acc_top2"} and task.mode == "max"


def test_quick_uses_the_first_samples() -> None:
    data = _features(30, "classification")
    task = Task("toy", data, data[:10], data[:10], out_dim=3, quick_sizes=(12, 4, 4))
    task.load(quick=True)
    assert [task.num_samples(s) for s in ("train", "val", "test")] == [12, 4, 4]
    task.load(quick=False)
    assert task.num_samples("train") == 30


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "ranking"}, "kind: expected one of .*'retrieval'\\], got 'ranking'"),
        ({"kind": "classification"}, "needs classes=\\[names\\] or out_dim"),
        ({"out_dim": 3, "query": "c"}, "query: expected one of the modalities \\['a', 'b'\\], got 'c'"),
        ({"out_dim": 3, "extractors": {"a": GridCNN}}, "extractors given for \\['a'\\], which the samples do not hold"),
        ({"out_dim": 3, "modality_dropout": 1.0}, "modality_dropout: expected a probability in \\[0, 1\\)"),
        ({"classes": ["x"], "out_dim": 3}, "out_dim: expected 1 \\(the number of classes\\)"),
        ({"out_dim": 3, "plateau": {}}, "plateau: expected a non-empty mapping"),
        ({"out_dim": 3, "plateau": {"acc": "high"}}, "plateau: expected .*metric name: number.*'acc': 'high'"),
    ],
)
def test_task_errors_name_the_argument(kwargs, message: str) -> None:
    data = _features(4, "classification")
    with pytest.raises(ValueError, match=message):
        Task("toy", data, data, data, **kwargs)


def test_task_errors_for_raw_without_extractor_and_missing_targets() -> None:
    with pytest.raises(ValueError, match="raw modalities \\['image'\\] need an extractor"):
        Task("t", _vqa(2, 0), _vqa(2, 0), _vqa(2, 0), out_dim=3)
    unlabelled = [mg.MultimodalSample(a=torch.ones(1, 2))]
    with pytest.raises(ValueError, match="train:.*sample.*0.*target.*y"):
        Task("t", unlabelled, unlabelled, unlabelled, out_dim=2)
    with pytest.raises(ValueError, match="expected.*all.*train.*val.*test"):
        Task("t", unlabelled, out_dim=2)


def test_match_budget_from_in_dims_and_widths() -> None:
    in_dims = {"text": 16, "image": 8}
    hidden, params = match_budget("concat", 20_000, in_dims=in_dims, out_dim=3)
    neighbours = [sum(p.numel() for p in mg.get_model("concat", in_dims=in_dims, hidden=h, out_dim=3).parameters())
                  for h in (hidden - 8, hidden + 8)]
    assert all(abs(params - 20_000) <= abs(n - 20_000) for n in neighbours)
    widths = match_widths(["graph-gat", "concat", "attention"], in_dims=in_dims, out_dim=3, hidden=32)
    target = widths["graph-gat"][1]
    assert widths["graph-gat"][0] == 32
    for name in ("concat", "attention"):  # the closest multiple of 8
        h, p = widths[name]
        assert (h, p) == match_budget(name, target, in_dims=in_dims, out_dim=3) and abs(p - target) / target < 0.15
    with pytest.raises(ValueError, match="in_dims: expected"):
        match_budget("concat", 1000)
    with pytest.raises(ValueError, match="target: expected a parameter count"):
        match_budget("concat", -5, in_dims=in_dims)


def test_targets_are_checked_against_the_classes() -> None:
    data = _features(6, "classification")
    bad = data[:3] + [mg.MultimodalSample(a=torch.ones(3, 4), b=torch.ones(2, 5), y=7)]
    with pytest.raises(ValueError, match="val:.*3:.*\\[0.*3\\).*y=7"):
        Task("toy", data, bad, data, out_dim=3)
    regression = _features(4, "regression")
    with pytest.raises(ValueError, match="expected a target of 2 value\\(s\\)"):
        Task("toy", regression, regression, regression, kind="regression", out_dim=2)


def test_cli_runs_a_user_task_file(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from mmgraph.cli import main

    (tmp_path / "my_task.py").write_text(
        "import torch, mmgraph as mg\n"
        "g = torch.Generator().manual_seed(0)\n"
        "make = lambda n: [mg.MultimodalSample(a=torch.randn(3, 4, generator=g), y=i % 2) for i in range(n)]\n"
        "TASK = mg.bench.Task('mine', make(24), make(8), make(8), classes=['x', 'y'], models=['concat', 'late'])\n"
    )
    monkeypatch.chdir(tmp_path)
    code = main(["bench", "my_task.py:TASK", "--epochs", "1", "--seeds", "1", "--lrs", "0.001", "--hidden", "16",
                 "--no-progress"])
    assert code == 0
    results = json.loads((tmp_path / "runs" / "bench" / "mine" / "results.json").read_text())
    assert sorted(results["models"]) == ["concat", "late"] and "acc" in results["models"]["late"]["metrics"]


def _pairs(n: int, seed: int) -> list[mg.MultimodalSample]:
    """Pairs of an 'image' (6 objects with positions) and a 'caption' (3 tokens) that both show item i; 2 per item."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        code = torch.randn(4, generator=g)
        objects = code.repeat(6, 1) + 0.1 * torch.randn(6, 4, generator=g)
        for _ in range(2):
            caption = code.repeat(3, 1)[:, :3] + 0.1 * torch.randn(3, 3, generator=g)
            out.append(mg.MultimodalSample(objects=mg.Modality(objects, pos=torch.rand(6, 2, generator=g)),
                                           caption=caption, y=i))
    return out


def test_retrieval_kind_trains_dual_encoders(tmp_path) -> None:
    task = Task("toy-retrieval", _pairs(24, 0), _pairs(8, 1), _pairs(8, 2), kind="retrieval", query="caption")
    assert task.default_models == ("dual-graph", "dual-pooled") and task.monitor == "t2i_r1"
    assert task.model_kwargs("dual-pooled", 16)["text"] == "caption"
    results = run(task, seeds=1, out=str(tmp_path), progress=False, say=lambda s: None, epochs=1, lrs=(1e-3,),
                  hidden=16, batch_size=8)
    metrics = results["models"]["dual-pooled"]["metrics"]
    assert {"t2i_r1", "t2i_mean_rank", "i2t_r5"} <= set(metrics)
    assert 0 <= metrics["t2i_r1"]["mean"] <= 1 and 1 <= metrics["t2i_mean_rank"]["mean"] <= 8


def test_retrieval_scores_use_one_gallery_item_per_id() -> None:
    from mmgraph.train.kinds import retrieval_scores

    emb = torch.eye(3).repeat_interleave(2, 0)  # items 0, 1, 2, two pairs each, both sides equal
    out = torch.stack([emb, emb], 1)
    scores = retrieval_scores(out, torch.tensor([0, 0, 1, 1, 2, 2]))
    assert scores["t2i_r1"] == scores["i2t_r1"] == 1.0 and scores["t2i_mean_rank"] == 1.0


def test_task_plateau_is_validated_and_kept() -> None:
    data = _features(4, "classification")
    task = Task("toy", data, data, data, out_dim=3, plateau={"acc": 1})
    assert task.plateau == {"acc": 1.0}
    assert Task("toy", data, data, data, out_dim=3).plateau is None
