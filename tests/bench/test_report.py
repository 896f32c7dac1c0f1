"""mmgraph.bench.report: Markdown table (bold best, lower-is-better), terminal table, results.md and the PNG plot."""

from __future__ import annotations

import io
import re

import pytest

from mmgraph.bench.report import (
    ReportPaths,
    left_plateau,
    lower_is_better,
    markdown_table,
    plot_results,
    print_table,
    text_table,
    write_report,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MACHINE = {"python": "3.11.7", "torch": "2.3.0", "processor": "Some CPU", "logical_cores": 8, "device": "cpu"}


def stat(mean: float, std: float, runs: list[float] | None = None) -> dict:
    return {"mean": mean, "std": std, "runs": runs if runs is not None else [mean]}


def model(metrics: dict, params: int = 1000, train: float = 1.25, infer: float = 5000.0, mem: float = 321.5) -> dict:
    return {"params": params, "metrics": metrics, "train_s_per_epoch": train, "infer_samples_per_s": infer,
            "peak_mem_mb": mem}


def clevr_results(command: str | None = "mmgraph bench sort_of_clevr --seeds 3") -> dict:
    config = {"epochs": 20} if command is None else {"command": command, "epochs": 20}
    return {
        "task": "sort_of_clevr",
        "config": config,
        "machine": MACHINE,
        "models": {
            "graph-relational": model({"acc_relational": stat(0.953, 0.004, [0.95, 0.952, 0.957]),
                                       "acc_nonrelational": stat(0.91, 0.01, [0.9, 0.91, 0.92]),
                                       "acc": stat(0.93, 0.005, [0.925, 0.93, 0.935])}, params=123456),
            "concat": model({"acc_relational": stat(0.61, 0.02, [0.59, 0.61, 0.63]),
                             "acc_nonrelational": stat(0.97, 0.003, [0.967, 0.97, 0.973]),
                             "acc": stat(0.79, 0.01, [0.78, 0.79, 0.80])}, params=4567),
        },
    }


def sentiment_results(with_ablation: bool = True) -> dict:
    def metrics(acc2, mae, drops):
        out = {"acc2": stat(acc2, 0.01, [acc2 - 0.01, acc2 + 0.01]), "f1": stat(acc2 - 0.01, 0.01, [acc2 - 0.02, acc2]),
               "acc7": stat(0.35, 0.02, [0.33, 0.37]), "mae": stat(mae, 0.03, [mae - 0.03, mae + 0.03]),
               "corr": stat(0.6, 0.02, [0.58, 0.62])}
        if with_ablation:
            for modality, drop in drops.items():
                out[f"acc2_without_{modality}"] = stat(acc2 - drop, 0.01, [acc2 - 0.01 - drop, acc2 + 0.01 - drop])
        return out

    return {
        "task": "sentiment",
        "config": {"command": "mmgraph bench sentiment", "lr": {"late": 0.001}},
        "machine": MACHINE,
        "models": {
            "late": model(metrics(0.75, 0.95, {"text": 0.2, "audio": 0.01, "vision": 0.02})),
            "graph-gat": model(metrics(0.78, 0.88, {"text": 0.25, "audio": 0.03, "vision": 0.01})),
            "tensor": model(metrics(0.74, 1.02, {"text": 0.15, "audio": 0.02, "vision": 0.0})),
        },
    }


def table_rows(table: str) -> dict[str, list[str]]:
    """Markdown table rows by model name → cells (stripped)."""
    rows = {}
    for line in table.splitlines():
        if line.startswith("| ") and not line.startswith("| Model"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0]] = cells[1:]
    return rows


def header_cells(table: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith("| Model"))
    return [c.strip() for c in line.strip("|").split(" | ")]


@pytest.mark.parametrize(
    "metric, expected",
    [("mae", True), ("val_mae", True), ("train_loss", True), ("rmse", True), ("mean_rank", True),
     ("acc", False), ("acc2", False), ("corr", False), ("f1", False), ("acc2_without_text", False)],
)
def test_lower_is_better(metric, expected):
    assert lower_is_better(metric) is expected


def test_markdown_table_contents():
    table = markdown_table(clevr_results())
    lines = table.splitlines()
    assert lines[0] == "**Task:** `sort_of_clevr` · **Command:** `mmgraph bench sort_of_clevr --seeds 3`"
    assert header_cells(table) == ["Model", "Params", "acc_relational", "acc_nonrelational", "acc",
                                   "Train s/epoch", "Samples/s", "Peak MB"]
    rows = table_rows(table)
    assert list(rows) == ["graph-relational", "concat"]
    assert rows["graph-relational"] == ["123,456", "**0.953 ± 0.004**", "0.910 ± 0.010", "**0.930 ± 0.005**",
                                        "1.25", "5,000", "321.5"]
    assert rows["concat"][:4] == ["4,567", "0.610 ± 0.020", "**0.970 ± 0.003**", "0.790 ± 0.010"]
    assert table.count("**") == 2 * 2 + 2 * 3  # the header line's two labels, one best per metric


@pytest.mark.parametrize(
    "metric, best",
    [("acc2", "graph-gat"), ("f1", "graph-gat"), ("mae", "graph-gat"), ("acc2_without_text", "tensor"),
     ("acc2_without_audio", "graph-gat")],
)
def test_markdown_table_bolds_best_respecting_direction(metric, best):
    results = sentiment_results()
    table = markdown_table(results)
    head = header_cells(table)
    column = head.index(metric + (" ↓" if metric == "mae" else "")) - 1
    rows = table_rows(table)
    bold = {name for name, cells in rows.items() if cells[column].startswith("**")}
    assert bold == {best}


def test_markdown_table_lower_is_better_for_mae():
    results = sentiment_results(with_ablation=False)
    results["models"]["late"]["metrics"]["mae"] = stat(0.5, 0.01, [0.49, 0.51])  # lowest mae, not highest
    rows = table_rows(markdown_table(results, metrics=["mae", "acc2"]))
    assert rows["late"][1] == "**0.500 ± 0.010**"
    assert rows["tensor"][1] == "1.020 ± 0.030"  # the highest mae is not bold
    assert rows["graph-gat"][2] == "**0.780 ± 0.010**"


def test_markdown_table_ties_missing_metrics_and_selection():
    results = clevr_results(command=None)
    results["models"]["concat"]["metrics"]["acc"] = stat(0.93, 0.0)  # tie with graph-relational
    del results["models"]["concat"]["metrics"]["acc_relational"]
    table = markdown_table(results)
    assert table.splitlines()[0] == "**Task:** `sort_of_clevr`"  # no command in the config
    rows = table_rows(table)
    assert rows["concat"][1] == "—"
    assert rows["concat"][3].startswith("**") and rows["graph-relational"][3].startswith("**")
    selected = markdown_table(results, metrics=["acc"], header=False)
    assert selected.startswith("| Model | Params | acc | Train")
    with pytest.raises(ValueError, match=r"\['f1'\] not in the results"):
        markdown_table(results, metrics=["f1"])


def test_markdown_table_rejects_wrong_schema():
    results = clevr_results()
    del results["models"]["concat"]["peak_mem_mb"]
    with pytest.raises(ValueError, match=r"results\['models'\]\['concat'\]:.*dict.*exactly.*keys"):
        markdown_table(results)


def test_print_table(capsys):
    print_table(sentiment_results(with_ablation=False))
    out = capsys.readouterr().out
    assert "**" not in out and "|" not in out
    lines = out.splitlines()
    assert lines[:2] == ["task: sentiment", "command: mmgraph bench sentiment"]
    header = next(i for i, line in enumerate(lines) if line.startswith("Model"))
    table = lines[header:header + 5]  # header, rule, 3 models
    assert re.fullmatch(r"[- ]+", table[1])
    # aligned: the same width, the "±" of each column at the same place in every row
    assert {len(line) for line in table} == {len(table[1])}
    assert len({tuple(m.start() for m in re.finditer("±", line)) for line in table[2:]}) == 1
    spans = [range(m.start(), m.end()) for m in re.finditer("-+", table[1])]
    assert all(any(m.start() in span for span in spans[2:7]) for m in re.finditer("±", table[2]))
    gat = next(line for line in table if line.startswith("graph-gat"))
    assert "0.780 ± 0.010*" in gat and "0.880 ± 0.030*" in gat  # best acc2 and best (lowest) mae
    tensor = next(line for line in table if line.startswith("tensor"))
    assert "0.740 ± 0.010 " in tensor and "1.020 ± 0.030 " in tensor  # not the best acc2 / mae
    assert "0.350 ± 0.020*" in tensor  # acc7 is a three-way tie: all marked
    assert "lower is better for mae" in out
    buf = io.StringIO()
    print_table(sentiment_results(with_ablation=False), file=buf)
    assert buf.getvalue() == out == text_table(sentiment_results(with_ablation=False))


def test_write_report(tmp_path):
    results = clevr_results()
    command = "mmgraph bench sort_of_clevr --seeds 3 --out 'runs/a b'"
    paths = write_report(tmp_path / "report", results, command)
    assert isinstance(paths, ReportPaths)
    assert paths == (tmp_path / "report" / "results.md", tmp_path / "report" / "results.png")
    md = paths.markdown.read_text(encoding="utf-8")
    assert md.startswith("# mmgraph benchmark: sort_of_clevr\n")
    assert f"```bash\n{command}\n```" in md
    assert "- **processor**: Some CPU" in md and "- **logical_cores**: 8" in md
    assert "- **epochs**: 20" in md
    assert markdown_table(results, header=False) in md
    assert "![sort_of_clevr results](results.png)" in md
    png = paths.plot.read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 5000
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["results.md", "results.png"]


def test_plot_has_ablation_panel_for_sentiment(tmp_path):
    from PIL import Image

    with_ablation = plot_results(sentiment_results(), tmp_path / "a.png")
    without = plot_results(sentiment_results(with_ablation=False), tmp_path / "b.png")
    for path in (with_ablation, without):
        assert path.read_bytes().startswith(PNG_SIGNATURE)
    with Image.open(with_ablation) as a, Image.open(without) as b:
        assert a.size[0] > b.size[0] * 1.3  # a second subplot beside the metrics
        assert a.size[1] == b.size[1]


def test_report_handles_nan_and_single_seed(tmp_path):
    results = clevr_results()
    results["models"]["concat"]["metrics"]["acc"] = stat(float("nan"), float("nan"), [float("nan")])
    results["models"]["concat"]["peak_mem_mb"] = float("nan")
    rows = table_rows(markdown_table(results))
    assert rows["concat"][3] == "nan ± nan" and rows["concat"][-1] == "n/a"
    assert rows["graph-relational"][3].startswith("**")  # nan is never the best
    paths = write_report(tmp_path, results, "mmgraph bench sort_of_clevr")
    assert paths.plot.read_bytes().startswith(PNG_SIGNATURE)


def test_write_report_command_not_recorded(tmp_path):
    md = write_report(tmp_path, clevr_results(), "").markdown.read_text(encoding="utf-8")
    assert "Produced by: (command not recorded)" in md and "```" not in md
    with pytest.raises(ValueError, match="command: expected a string"):
        write_report(tmp_path, clevr_results(), None)



def test_report_says_when_results_are_partial(tmp_path):
    results = clevr_results()
    complete = write_report(tmp_path / "a", results, "mmgraph bench x").markdown.read_text(encoding="utf-8")
    assert "Partial results" not in complete
    results["config"]["missing"] = ["rn/1", "rn/2"]
    md = write_report(tmp_path / "b", results, "mmgraph bench x").markdown.read_text(encoding="utf-8")
    assert "**Partial results**: 2 (model, seed) runs are not finished yet (rn/1, rn/2)" in md


def test_report_lists_every_seed(tmp_path):
    results = clevr_results()
    model = sorted(results["models"])[0]
    metric = next(iter(results["models"][model]["metrics"]))
    results["models"][model]["metrics"][metric]["runs"] = [0.25, 0.5, 0.125]
    md = write_report(tmp_path, results, "cmd").markdown.read_text(encoding="utf-8")
    section = md.split("## Per seed", 1)[1]
    row = next(line for line in section.splitlines() if line.startswith(f"| {model} |"))
    assert "0.250 / 0.500 / 0.125" in row


def test_report_counts_the_seeds_that_left_the_plateau(tmp_path):
    results = clevr_results()
    results["config"]["plateau"] = {"acc_relational": 0.6, "acc_nonrelational": 0.9}
    md = write_report(tmp_path, results, "cmd").markdown.read_text(encoding="utf-8")
    section = md.split("## Per seed", 1)[1]
    assert "left the plateau when acc_relational > 0.6 and acc_nonrelational > 0.9" in section
    rows = {line.split("|")[1].strip(): line.split("|")[-2].strip() for line in section.splitlines()
            if line.startswith("| graph") or line.startswith("| concat")}
    # graph-relational: nonrel 0.9 is not above 0.9 (seed 0); concat: relational 0.59 is not above 0.6 (seed 0).
    assert rows == {"graph-relational": "2 of 3", "concat": "2 of 3"}


def test_left_plateau_lower_is_better_and_missing_metric():
    entry = {"metrics": {"mae": {"runs": [0.5, 0.9]}, "acc": {"runs": [0.7, 0.8]}}}
    assert left_plateau(entry, {"mae": 0.6}) == (1, 2)  # lower is better: below the threshold
    assert left_plateau(entry, {"mae": 0.6, "acc": 0.75}) == (0, 2)
    assert left_plateau(entry, {"bleu4": 0.5}) is None


def test_report_without_plateau_has_no_count_column(tmp_path):
    md = write_report(tmp_path, clevr_results(), "cmd").markdown.read_text(encoding="utf-8")
    assert "left the plateau" not in md
