"""End to end: the smoke variants of the long-dependency pipelines (adding problem: regression; copy problem:
tagging scored on the recall steps), and a dry run of both full sweeps."""

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import REPO, run_smoke, seqpipe


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory):
    return run_smoke(tmp_path_factory, "long_dependencies_copy")


SERVE = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
model = tf.saved_model.load(sys.argv[1])
print(json.dumps(model.signatures["serving_default"](text=tf.constant(json.loads(sys.stdin.read())))["value"]
                 .numpy().tolist()))
"""


def test_the_adding_smoke_run_scores_and_records_its_options(adding_run):
    result = adding_run["result"]
    assert result["status"] == "FINISHED"
    metrics = result["metrics"]
    assert {"test_mse", "test_mae", "test_r2", "test_mse_of_the_mean"} <= set(metrics)
    table = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_predictions.csv")
    assert list(table.columns) == ["text", "target", "prediction"] and len(table) == 40  # 10% of 400
    assert all(len(text.split()) == 10 and sum(t[0] == "m" for t in text.split()) == 2 for text in table["text"])
    assert metrics["test_mse"] == pytest.approx(float(np.mean((table["prediction"] - table["target"]) ** 2)))
    # the baseline: the test targets' mean squared distance from the training mean (about 1)
    assert 0.08 < metrics["test_mse_of_the_mean"] < 0.3
    run = mlflow.MlflowClient(result["tracking_uri"]).get_run(result["run_id"])
    assert run.data.params["data.source.options.length"] == "10"
    assert run.data.params["stages.embed.kind"] == "one_hot"
    assert run.data.params["stages.regress.pooling"] == "last"
    vocabulary = (Path(result["run_dir"]) / "vocab.txt").read_text().splitlines()
    assert len(vocabulary) <= 4 + 200  # [PAD] [UNK] [START] [END] and v0..v99, m0..m99
    proc = subprocess.run([sys.executable, "-c", SERVE, result["export_path"]],
                          input=json.dumps(table["text"].tolist()), capture_output=True, text=True, timeout=300,
                          cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    np.testing.assert_allclose(json.loads(proc.stdout.strip().splitlines()[-1]), table["prediction"], atol=1e-5)


def test_the_copy_smoke_run_scores_the_recall_steps_only(copy_run):
    result = copy_run["result"]
    assert result["status"] == "FINISHED"
    table = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_tags.tsv", sep="\t", dtype=str,
                        keep_default_na=False)
    recall = [(g, p) for gold, pred in zip(table["tags"], table["predicted"])
              for g, p in zip(gold.split()[-5:], pred.split()[-5:])]  # the pipeline recalls 5 symbols
    assert all(len(t.split()) == 5 + 10 + 1 + 5 for t in table["tokens"])
    assert result["metrics"]["test_token_accuracy"] == pytest.approx(np.mean([g == p for g, p in recall]))
    report = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_tag_report.csv", index_col=0)
    assert "_" not in report.index
    history = pd.read_csv(Path(result["run_dir"]) / "history.csv")
    assert "val_token_accuracy" in history.columns
    run = mlflow.MlflowClient(result["tracking_uri"]).get_run(result["run_id"])
    assert run.data.params["stages.evaluate.ignore_tags"] == "[_]"
    assert run.data.params["stages.train.ignore_tags"] == "[_]"


@pytest.mark.parametrize("name, swept", [("long_dependencies", "length"), ("long_dependencies_copy", "delay")])
def test_the_full_sweeps_list_twenty_five_valid_trials(tmp_path, name, swept):
    proc = seqpipe("sweep", str(REPO / "pipelines" / f"{name}.yaml"), "--dry-run", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()  # progress and listings go to stderr
    assert len(lines) == 25
    cells, values = ["rnn", "lstm", "gru", "leaky_rnn", "esn"], [10, 25, 50, 100, 200]
    assert lines == [f"trial {i * 5 + j + 1}: encode.cell={cell}, data.source.options.{swept}={value}"
                     for i, cell in enumerate(cells) for j, value in enumerate(values)]
    bad = seqpipe("sweep", str(REPO / "pipelines" / f"{name}.yaml"), "--dry-run", "--grid",
                  f"data.source.options.{swept}=-1,10", cwd=tmp_path, check=False)
    assert bad.returncode == 2
    # checked as the file's own sweep values are, before any trial: named by the option and the value's position
    assert (f"--grid data.source.options.{swept}=-1,10: data.source.options.{swept}[0]: must be greater than or "
            "equal to") in bad.stderr
