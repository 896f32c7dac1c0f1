"""Benchmark tasks on tiny data: inputs every model shares, batching, metrics."""

from __future__ import annotations

import pytest
import torch

import mmgraph as mg
from mmgraph.bench.runner import build_model
from mmgraph.bench.tasks import SentimentTask, SortOfCLEVRTask, make_task


@pytest.fixture(scope="module")
def state_task() -> SortOfCLEVRTask:
    task = SortOfCLEVRTask("state", sizes=(4, 2, 3))
    task.load(quick=True)
    return task


def test_make_task_and_errors() -> None:
    assert make_task("sort-of-clevr", input="pixels").name == "sort-of-clevr-pixels"
    assert make_task("sentiment").name == "sentiment"
    with pytest.raises(ValueError, match="unknown task 'vqa'"):
        make_task("vqa")
    with pytest.raises(ValueError, match="input:.*\\['state'.*'pixels'\\].*'audio'"):
        SortOfCLEVRTask("audio")
    with pytest.raises(ValueError, match="--input.*applies.*sort-of-clevr.*captioning"):
        make_task("sentiment", input="pixels")


def test_state_batches_cover_every_question_once(state_task: SortOfCLEVRTask) -> None:
    seen = torch.cat([b.y for b in state_task.batches("train", 7, shuffle=False)])
    assert torch.equal(seen, state_task.scenes["train"].answers.reshape(-1))
    shuffled = list(state_task.batches("train", 7, shuffle=True, seed=1))
    assert sum(b.batch_size for b in shuffled) == 80
    again = list(state_task.batches("train", 7, shuffle=True, seed=1))
    assert all(torch.equal(a.y, b.y) for a, b in zip(shuffled, again))  # reproducible order


def test_pixel_batches_hold_whole_images() -> None:
    task = SortOfCLEVRTask("pixels", sizes=(3, 1, 1))
    task.load(quick=True)
    batches = list(task.batches("train", 40, shuffle=True))
    assert [b.batch_size for b in batches] == [40, 20]
    assert [b.raw["image"].data.size(0) for b in batches] == [2, 1]  # each image encoded once


@pytest.mark.parametrize("name", ["graph-relational", "rn", "attention", "concat"])
def test_every_model_gets_the_same_inputs(state_task: SortOfCLEVRTask, name: str) -> None:
    model = build_model(state_task, name, hidden=16)
    assert model.in_dims == state_task.in_dims()
    metrics = state_task.evaluate(model, "test", batch_size=16)
    assert set(metrics) == set(state_task.metric_names)
    data = state_task.scenes["test"]
    preds = torch.cat([model(b).argmax(-1) for b in state_task.batches("test", 16, shuffle=False)])
    correct = preds == data.answers.reshape(-1)
    rel = data.relational.reshape(-1)
    assert metrics["acc_relational"] == pytest.approx(correct[rel].float().mean().item())
    assert metrics["acc"] == pytest.approx(correct.float().mean().item())


def test_pixel_models_get_fresh_identical_extractors() -> None:
    task = SortOfCLEVRTask("pixels", sizes=(2, 1, 1))
    a, b = task.model_kwargs("concat", 32)["extractors"]["image"], task.model_kwargs("rn", 32)["extractors"]["image"]
    assert a is not b and repr(a) == repr(b)
    assert task.in_dims()["image"] == a.out_dim


@pytest.mark.parametrize("name,conv", [("graph-relational", "relational"), ("graph-gcn", "gcn")])
def test_pixel_graph_models_get_the_same_cnn_inside_an_image_level_graph(name: str, conv: str) -> None:
    task = SortOfCLEVRTask("pixels", sizes=(2, 1, 1))
    task.load(quick=True)
    kwargs = task.model_kwargs(name, 24)
    extractor = kwargs["extractors"]["image"]
    assert isinstance(extractor, mg.nn.GraphExtractor) and extractor.out_dim == 24
    assert repr(extractor.extractor) == repr(task.model_kwargs("concat", 24)["extractors"]["image"])
    assert extractor.gnn.conv_name == conv and kwargs["in_dims"] == {"image": 24}
    assert ("image", "intra", "image") not in kwargs["builder"].edge_types(["image", "question"])  # image-level only
    model = build_model(task, name, hidden=24)
    assert model.in_dims["image"] == 24
    batch = next(iter(task.batches("test", 20, shuffle=False)))
    assert model(batch).shape == (20, task.out_dim)
    if conv == "relational":
        assert extractor.gnn.convs[0].heads == 2
        assert model.gnn.condition == "question"


def test_sentiment_task_metrics_and_ablation() -> None:
    task = SentimentTask(sizes=(6, 3, 5))
    task.load(quick=True)
    assert set(task.in_dims()) == {"audio", "face", "text"}
    without = next(iter(task.batches("test", 5, shuffle=False, without=("face",))))
    assert without.modalities == ["audio", "text"]
    model = build_model(task, "graph-gcn", hidden=8)
    metrics = task.evaluate(model, "test", batch_size=5)
    assert set(metrics) == set(task.metric_names)
    assert all(0.0 <= metrics[f"acc2_without_{m}"] <= 1.0 for m in ("audio", "face", "text"))


def test_sentiment_modality_dropout_in_training_batches_only() -> None:
    task = SentimentTask(sizes=(40, 4, 4), modality_dropout=0.3)
    task.load(quick=True)

    def missing(batches) -> int:  # samples without some modality
        return sum(int((~mb.present).sum()) for b in batches for mb in (b[m] for m in b.modalities))

    train = list(task.batches("train", 8, shuffle=True, seed=3))
    assert missing(train) > 0
    assert all(sum(int(b[m].present[i]) for m in b.modalities) >= 1 for b in train for i in range(b.batch_size))
    again = list(task.batches("train", 8, shuffle=True, seed=3))
    assert [[b[m].present.tolist() for m in b.modalities] for b in train] == \
        [[b[m].present.tolist() for m in b.modalities] for b in again]  # reproducible
    assert missing(task.batches("test", 8, shuffle=False)) == 0
    assert missing(task.batches("train", 8, shuffle=False)) == 0  # evaluation order: complete
    off = SentimentTask(sizes=(40, 4, 4), modality_dropout=0.0)
    off.load(quick=True)
    assert missing(off.batches("train", 8, shuffle=True)) == 0
    with pytest.raises(ValueError, match=r"modality_dropout:.*probability.*\[0.*1\).*1.5"):
        SentimentTask(modality_dropout=1.5)


@pytest.mark.parametrize("input", ["state", "pixels"])
def test_sort_of_clevr_example_is_the_question(input: str) -> None:
    from mmgraph.datasets.sort_of_clevr import ANSWERS, COLORS

    task = SortOfCLEVRTask(input, sizes=(2, 2, 3))
    task.load(quick=True)
    data = task.scenes["test"]
    ex = task.example("test", 2 * 20 + 13)  # image 2, question 13 (relational)
    assert ex.batch.batch_size == 1 and int(ex.batch.y) == int(data.answers[2, 13]) and ex.truth == ANSWERS[int(data.answers[2, 13])]
    assert " ".join(ex.labels["question"]) + "  (relational)" == ex.title
    assert torch.equal(ex.image, data.images[2])
    assert ex.heatmap == ("objects" if input == "state" else "image", "question", True)
    if input == "state":
        assert [name.split()[0] for name in ex.labels["objects"]] == list(COLORS)
        shapes = data.states[2, :, 6:8].argmax(-1)
        assert [name.split()[1] for name in ex.labels["objects"]] == [("square", "circle")[int(s)] for s in shapes]
    assert task.describe(torch.eye(10)[3]) == ANSWERS[3]
    with pytest.raises(ValueError, match=r"sample:.*\[0.*60\).*'test'.*60"):
        task.example("test", 60)


def test_sentiment_example_has_the_words() -> None:
    task = SentimentTask(sizes=(2, 2, 3))
    task.load(quick=True)
    index = next(i for i, s in enumerate(task.data["test"]) if "text" in s)
    sample = task.data["test"][index]
    ex = task.example("test", index)
    assert ex.labels["text"] == sample["text"].labels and ex.title == " ".join(sample["text"].labels)
    assert ex.truth == f"{float(sample.y):+.2f}" and ex.image is None and ex.heatmap == ("audio", "text", False)
    assert task.describe(torch.tensor([1.234])) == "+1.23"


class _StubText:
    """Stands in for MiniLMTokens: a 4-d row per word (length, index, 1, 0)."""

    dim = 4

    def encode(self, texts: list[str]) -> list[mg.Modality]:
        return [mg.Modality(torch.tensor([[len(w), i, 1.0, 0.0] for i, w in enumerate(t.split())])) for t in texts]


def test_natural_language_questions_through_a_text_encoder() -> None:
    from mmgraph.datasets.sort_of_clevr import decode_tokens

    task = SortOfCLEVRTask("state", sizes=(3, 2, 2), text="minilm", text_encoder=_StubText())
    task.load(quick=True)
    assert task.name == "sort-of-clevr-state-minilm" and task.in_dims()["question"] == 4
    batch = next(iter(task.batches("train", 20, shuffle=False)))
    data = task.scenes["train"]
    for i in (0, 13):
        words = decode_tokens(data.question_tokens[0, i]).split()
        assert int(batch["question"].mask[i].sum()) == len(words)
        assert batch["question"].x[i, : len(words), 0].tolist() == [float(len(w)) for w in words]
    model = build_model(task, "graph-relational", hidden=16)
    assert model(batch).shape == (20, 10)
    with pytest.raises(ValueError, match=r"text: expected one of \['onehot', 'minilm'\]"):
        SortOfCLEVRTask("state", text="bert")


def test_film_gives_every_model_the_question_in_perception() -> None:
    task = SortOfCLEVRTask("pixels", sizes=(2, 1, 1), film=True)
    task.load(quick=True)
    assert task.name == "sort-of-clevr-pixels-film"
    for name in ("concat", "rn", "graph-relational"):
        model = build_model(task, name, hidden=16)
        assert model.film is not None and model.film.source == "question" and list(model.film.extractors) == ["image"]
    with pytest.raises(ValueError, match="film: expected True or False"):
        SortOfCLEVRTask("pixels", film="question")


def test_pixels_with_film_is_the_protocol_that_leaves_the_plateau() -> None:
    task = SortOfCLEVRTask("pixels", sizes=(2, 1, 1), film=True)
    task.load(quick=True)
    settings = task.settings(quick=False)
    assert {k: settings[k] for k in ("epochs", "lrs", "batch_size", "scheduler")} == \
        {"epochs": 16, "lrs": (1e-3,), "batch_size": 64, "scheduler": "none"}
    batch = next(iter(task.batches("train", 64, shuffle=False)))  # grouped: the 40 questions of 2 images
    for name in SortOfCLEVRTask.MODELS:
        model = build_model(task, name, hidden=16)
        extractor = model.extractors["image"]
        assert isinstance(extractor, mg.nn.GridCNN) and extractor.norm == "group", name  # per-image statistics
        assert model.encoders.norms["image"] is None, name  # every region keeps its size
        if name == "concat":
            assert model.flat == {"image": 25} and model.pool == ["question"]
        if name.startswith("graph-"):
            assert model.readout.flat == {"image": 25} and model.flat_from == "input", name
            assert model.readout.node_types == ["question"] and model.readout.modes == ("mean",), name
        assert model(batch).shape == (40, 10), name
    assert SortOfCLEVRTask("pixels")._extractor("image").norm == "batch"  # the recorded protocol is unchanged
    assert SortOfCLEVRTask("pixels").model_options == {} and SortOfCLEVRTask("state", film=True).model_options == {}


def test_cli_film_is_for_sort_of_clevr(capsys: pytest.CaptureFixture[str]) -> None:
    from mmgraph.cli import main

    assert main(["bench", "sentiment", "--film", "--quick"]) == 2
    assert "--film: expected the sort-of-clevr task" in capsys.readouterr().err


def test_another_modality_dropout_is_another_task(tmp_path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from mmgraph.cli import main

    assert SentimentTask(modality_dropout=0.3).name == "sentiment-dropout0.3" and SentimentTask().name == "sentiment"
    assert main(["bench", "sort-of-clevr", "--modality-dropout", "0.3", "--quick"]) == 2
    assert "--modality-dropout: expected the sentiment task" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "sentiment", "--modality-dropout", "0.3", "--quick", "--models", "concat", "--seeds", "1",
                 "--epochs", "1", "--no-progress"]) == 0
    assert (tmp_path / "runs" / "bench" / "sentiment-dropout0.3-quick" / "results.json").is_file()
