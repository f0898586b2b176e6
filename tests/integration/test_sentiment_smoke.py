"""End to end: the smoke sentiment pipeline on real data (a slice of sentence polarity)."""

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import seqpipe


def test_json_summary_names_the_run_and_its_outputs(smoke_run):
    result, workdir = smoke_run["result"], smoke_run["workdir"]
    assert result["status"] == "FINISHED"
    assert result["tracking_uri"] == f"sqlite:///{workdir}/mlflow.db"
    assert Path(result["run_dir"]).is_dir() and Path(result["run_dir"]).parent == workdir / "runs"
    assert (Path(result["export_path"]) / "saved_model.pb").exists()
    assert set(result["metrics"]) >= {"test_accuracy", "test_macro_f1", "valid_accuracy"}
    assert 0.0 <= result["metrics"]["test_accuracy"] <= 1.0


def test_metrics_agree_with_the_predictions_file(smoke_run):
    result = smoke_run["result"]
    table = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_predictions.csv")
    assert len(table) == 90  # 15% of the 600-sentence slice
    accuracy = (table["label"] == table["predicted"]).mean()
    assert result["metrics"]["test_accuracy"] == pytest.approx(accuracy, abs=1e-9)
    np.testing.assert_allclose(table[["p_negative", "p_positive"]].sum(axis=1), 1.0, atol=1e-5)


def test_mlflow_run_holds_params_metrics_artifacts_and_tags(smoke_run):
    result = smoke_run["result"]
    client = mlflow.MlflowClient(result["tracking_uri"])
    run = client.get_run(result["run_id"])
    params, tags = run.data.params, run.data.tags
    assert params["stages.train.epochs"] == "2"
    assert params["stages.encode.cell"] == "lstm"
    assert params["stages.encode.bidirectional"] == "True" or params["stages.encode.bidirectional"] == "true"
    assert params["data.source.recipe"] == "sentence-polarity"
    assert params["data.source.limit"] == "600"
    assert run.data.metrics["test_accuracy"] == pytest.approx(result["metrics"]["test_accuracy"])
    history = client.get_metric_history(result["run_id"], "val_loss")
    assert [m.step for m in history] == [0, 1]
    for key in ("seqpipe.version", "tensorflow.version", "keras.version", "device", "cudnn_eligible"):
        assert tags.get(key), key
    assert tags["cudnn_eligible"] == "true"
    assert run.info.status == "FINISHED"

    def listing(path=None):
        out = []
        for f in client.list_artifacts(result["run_id"], path):
            out += listing(f.path) if f.is_dir else [f.path]
        return out

    artifacts = set(listing())
    for expected in ("resolved.yaml", "vocab.txt", "run.log", "evaluation/test_confusion_matrix.png",
                     "evaluation/test_predictions.csv", "evaluation/test_report.csv",
                     "plots/training_curves.png", "export/saved_model/saved_model.pb",
                     "export/saved_model/README.md", "export/model.keras"):
        assert expected in artifacts, expected


SERVE = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
model = tf.saved_model.load(sys.argv[1])
texts = json.load(sys.stdin)
out = model.signatures["serving_default"](text=tf.constant(texts))
assert "seqpipe" not in sys.modules
print(json.dumps({"label": [b.decode() for b in out["label"].numpy()], "label_id": out["label_id"].numpy().tolist(),
                  "probabilities": out["probabilities"].numpy().tolist(),
                  "known_tokens": out["known_tokens"].numpy().tolist()}))
"""


def test_saved_model_gives_no_label_for_a_text_with_no_known_word(smoke_run):
    """docs/serving.md#empty-and-unknown-input: the graph itself answers "", -1 and NaN, not a guess."""
    proc = subprocess.run([sys.executable, "-c", SERVE, smoke_run["result"]["export_path"]],
                          input=json.dumps(["a good film", "", "  ", "qqzx vvxq"]), capture_output=True, text=True,
                          timeout=300, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1].replace("NaN", "null"))
    assert out["known_tokens"][0] >= 2 and out["known_tokens"][1:] == [0, 0, 0]
    assert out["label"][0] in ("negative", "positive") and out["label"][1:] == ["", "", ""]
    assert out["label_id"][1:] == [-1, -1, -1] and out["probabilities"][1:] == [[None, None]] * 3
    assert abs(sum(out["probabilities"][0]) - 1.0) < 1e-5


def test_saved_model_in_a_fresh_process_matches_in_process_predictions(smoke_run):
    result = smoke_run["result"]
    table = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_predictions.csv")
    proc = subprocess.run([sys.executable, "-c", SERVE, result["export_path"]],
                          input=json.dumps(table["text"].tolist()),
                          capture_output=True, text=True, timeout=300, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(np.array(served["probabilities"]), table[["p_negative", "p_positive"]].to_numpy(),
                               atol=1e-5)
    assert served["label"] == table["predicted"].tolist()


def test_predict_command_reads_stdin_and_prints_a_table(smoke_run):
    result = smoke_run["result"]
    table = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_predictions.csv").head(5)
    proc = seqpipe("predict", result["run_dir"], stdin="\n".join(table["text"]) + "\n", cwd=smoke_run["workdir"])
    out = pd.read_csv(__import__("io").StringIO(proc.stdout), sep="\t")
    assert list(out.columns) == ["text", "label", "confidence", "p_negative", "p_positive", "known_tokens"]
    assert out["label"].tolist() == table["predicted"].tolist()
    np.testing.assert_allclose(out["p_positive"], table["p_positive"], atol=1e-5)
    by_id = seqpipe("predict", result["run_id"], "--format", "json", stdin=table["text"].iloc[0],
                    cwd=smoke_run["workdir"])
    assert json.loads(by_id.stdout.splitlines()[0])["label"] == table["predicted"].iloc[0]


def test_mlflow_pyfunc_model_predicts_the_same(smoke_run, monkeypatch):
    result = smoke_run["result"]
    table = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_predictions.csv").head(8)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", result["tracking_uri"])  # not mlflow.set_tracking_uri: it is global
    model = mlflow.pyfunc.load_model(f"runs:/{result['run_id']}/model")
    out = model.predict(pd.DataFrame({"text": table["text"]}))
    assert out["label"].tolist() == table["predicted"].tolist()


def test_bad_data_file_is_one_clear_line_and_exit_2(tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_text("review,stars\ngood film,5\n", encoding="utf-8")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        "name: bad-data\ntask: classification\ntracking: {backend: none}\n"
        f"data: {{source: {{path: {data.name}}}}}\n"
        "stages:\n  - tokenize: {}\n  - embed: {dim: 8}\n  - encode: {units: 8}\n  - classify: {}\n", encoding="utf-8")
    proc = seqpipe("run", str(pipeline), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{data}: no column 'text'" in proc.stderr


def test_evaluation_logs_an_accuracy_interval_and_the_test_set_fingerprint(smoke_run):
    result = smoke_run["result"]
    run = mlflow.MlflowClient(result["tracking_uri"]).get_run(result["run_id"])
    metrics, tags = run.data.metrics, run.data.tags
    assert metrics["test_accuracy_ci_low"] <= metrics["test_accuracy"] <= metrics["test_accuracy_ci_high"]
    assert metrics["test_accuracy_ci_high"] - metrics["test_accuracy_ci_low"] > 0.05  # 90 examples: a wide interval
    assert tags["seqpipe.test_set.examples"] == "90" and len(tags["seqpipe.test_set.sha256"]) == 64
    proc = seqpipe("compare", result["run_id"], result["run_id"][:8], "--paired-bs", "--tracking-uri",
                   result["tracking_uri"], cwd=smoke_run["workdir"], check=False)
    assert proc.returncode == 2 and "at least two runs" in proc.stderr
