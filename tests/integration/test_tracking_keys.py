"""User data as MLflow keys (tags, class labels) and tracking failures after training (issue 9)."""

import json
import random
import sqlite3
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from seqpipe.cli import main
from seqpipe.tracking.mlflow_tracker import MLflowTracker
from seqpipe.tracking.params import escape_name, unescape_name
from tests.integration.conftest import seqpipe

PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
TAGS = sorted({*PUNCTUATION, *(c * 2 for c in PUNCTUATION), "''", "``", "-LRB-", "-RRB-", "PRP$", "WP$", "NN", "VB"})


def write_tagging_data(path: Path, sentences: int = 400, seed: int = 0) -> None:
    """Each word has one tag (word ``w17`` is always ``TAGS[17]``), so even a tiny tagger learns something."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as out:
        for _ in range(sentences):
            ids = [rng.randrange(len(TAGS)) for _ in range(rng.randint(3, 8))]
            out.write(json.dumps({"tokens": " ".join(f"w{i}" for i in ids), "tags": " ".join(TAGS[i] for i in ids)})
                      + "\n")


def per_label(metrics: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix)}


def test_tagger_with_punctuation_tags_finishes_with_one_metric_per_tag(tmp_path):
    write_tagging_data(tmp_path / "tagged.jsonl")
    (tmp_path / "p.yaml").write_text(
        "name: punct-tagger\ntask: tagging\n"
        "data: {source: {path: tagged.jsonl}, split: {valid: 0.1, test: 0.2}}\n"
        "stages:\n  - tokenize: {lowercase: false}\n  - embed: {dim: 16}\n"
        "  - encode: {cell: gru, units: 16, bidirectional: true}\n"
        "  - tag: {output: crf}\n  - train: {epochs: 2, batch_size: 32}\n"
        "  - evaluate: {}\n  - export: {keras: false}\n",
        encoding="utf-8")
    proc = seqpipe("run", "p.yaml", "--json", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "FINISHED" and result["warnings"] == []
    assert result["tracking_uri"] == f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    client = mlflow.MlflowClient(result["tracking_uri"])
    run = client.get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    assert "seqpipe.tracking_warnings" not in run.data.tags
    for column in ("precision", "recall", "f1"):
        scores = per_label(run.data.metrics, f"test_{column}/")
        assert len(scores) == len(TAGS)  # one metric per tag, none merged
        assert sorted(unescape_name(key) for key in scores) == TAGS
    # the report says where each tag's scores are, and they agree with MLflow
    report = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_tag_report.csv", index_col=0,
                         keep_default_na=False, dtype={"metric_key": str})
    for tag in TAGS:
        assert report.loc[tag, "metric_key"] == f"test_f1/{escape_name(tag)}"
        assert run.data.metrics[report.loc[tag, "metric_key"]] == pytest.approx(float(report.loc[tag, "f1"]))
    assert client.get_logged_model(run.outputs.model_outputs[0].model_id).name == "model"  # the model was logged


LABELS = ["pos", "pos:", "pos/", "pos?", "pos.", "pos ", "pos!"]


def write_classification_data(path: Path, rows: int = 280) -> None:
    lines = ["text\tlabel"] + [f"word{i % len(LABELS)} filler {i}\t{LABELS[i % len(LABELS)]}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def classifier_pipeline(tmp_path: Path) -> Path:
    write_classification_data(tmp_path / "labels.tsv")
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: label-keys\ntask: classification\n"
        "data: {source: {path: labels.tsv}, split: {valid: 0.15, test: 0.25}}\n"
        "stages: [tokenize, {embed: {dim: 8}}, {encode: {units: 8}}, classify, {train: {epochs: 1}}, evaluate, "
        "{export: {keras: false}}]\n", encoding="utf-8")
    return path


def test_class_labels_that_differ_only_in_refused_characters_get_distinct_metrics(tmp_path, monkeypatch):
    # "pos " is read back stripped by the TSV reader, so it is the same class as "pos"
    labels = sorted({label.strip() for label in LABELS})
    pipeline = classifier_pipeline(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["run", str(pipeline), "--no-progress"]) == 0
    client = mlflow.MlflowClient(f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}")
    (run,) = client.search_runs([client.get_experiment_by_name("label-keys").experiment_id])
    assert run.info.status == "FINISHED"
    scores = per_label(run.data.metrics, "test_f1/")
    assert sorted(unescape_name(key) for key in scores) == labels
    report = pd.read_csv(Path(run.data.tags["seqpipe.run_dir"]) / "evaluation" / "test_report.csv", index_col=0,
                         keep_default_na=False)
    assert set(report["metric_key"]) - {""} == {f"test_f1/{escape_name(label)}" for label in labels}


def test_a_model_the_store_refuses_leaves_the_run_finished_with_a_warning(tmp_path, monkeypatch, capsys):
    def refuse(self, saved_model_dir, **kwargs):
        raise sqlite3.IntegrityError(
            "UNIQUE constraint failed: logged_model_metrics.model_id, logged_model_metrics.metric_name\n"
            "[SQL: INSERT INTO logged_model_metrics (model_id, metric_name) VALUES (?, ?)]\n[parameters: ('m-1', 'x')]")

    monkeypatch.setattr(MLflowTracker, "log_pyfunc_model", refuse)
    pipeline = classifier_pipeline(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["run", str(pipeline), "--no-progress"]) == 4  # finished with warnings
    err = capsys.readouterr().err
    assert "[SQL" not in err and "Traceback" not in err
    warning = [line for line in err.splitlines() if "could not log the MLflow model" in line]
    assert len(warning) == 1 and "IntegrityError: UNIQUE constraint failed" in warning[0]
    client = mlflow.MlflowClient(f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}")
    (run,) = client.search_runs([client.get_experiment_by_name("label-keys").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["seqpipe.tracking_warnings"].startswith("the MLflow model: IntegrityError")
    run_dir = Path(run.data.tags["seqpipe.run_dir"])
    assert (run_dir / "export" / "saved_model" / "saved_model.pb").exists()  # nothing computed is lost
    assert "could not log the MLflow model" in (run_dir / "run.log").read_text(encoding="utf-8")
    assert "test_accuracy" in run.data.metrics


def test_a_store_that_cannot_be_opened_fails_before_any_data_is_read(tmp_path, monkeypatch, capsys):
    pipeline = classifier_pipeline(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "labels.tsv").unlink()  # data errors would say so; tracking must fail first
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    code = main(["run", str(pipeline), "-o", f"tracking.uri=sqlite:///{blocker}/mlflow.db", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "tracking: cannot start a run in sqlite:///" in err and "Traceback" not in err
    assert "labels.tsv" not in err
