"""seqpipe against a real MLflow tracking server (HTTP, artifacts proxied), and the model registry end to end.

Pipelines run through the CLI with ``-o tracking.uri=http://127.0.0.1:PORT``; everything is then read
back through the server only. A registered version must serve the same predictions as the run itself,
from the server and from a local sqlite store.
"""

from __future__ import annotations

import io
import json
import random
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from seqpipe.tasks.classification import serving as classification_serving
from tests.integration.conftest import seqpipe
from tests.integration.mlflow_server import free_port, mlflow_server_fixture  # noqa: F401  (fixture mlflow_server)

POSITIVE = ["good", "great", "fine", "superb", "lovely", "bright"]
NEGATIVE = ["bad", "awful", "poor", "dull", "grim", "weak"]
FILLER = ["the", "film", "plot", "was", "a", "very", "and", "cast", "story", "it"]


def write_sentiment_tsv(path: Path, rows: int = 300, seed: int = 0) -> None:
    """Short texts whose label is given by one word, so a tiny model learns it in two epochs."""
    rng = random.Random(seed)
    lines = ["text\tlabel"]
    for i in range(rows):
        label, words = ("pos", POSITIVE) if i % 2 else ("neg", NEGATIVE)
        text = [rng.choice(FILLER) for _ in range(rng.randint(2, 6))]
        text.insert(rng.randrange(len(text) + 1), rng.choice(words))
        lines.append(f"{' '.join(text)}\t{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def classifier_pipeline(folder: Path, name: str, register_as: str | None = None) -> Path:
    """A tiny classification pipeline (2 epochs) over ``write_sentiment_tsv`` data in ``folder``."""
    write_sentiment_tsv(folder / "sentiment.tsv")
    export = f"{{export: {{keras: false, register_as: '{register_as}'}}}}" if register_as else "export"
    path = folder / "pipeline.yaml"
    path.write_text(
        f"name: {name}\ntask: classification\n"
        "data: {source: {path: sentiment.tsv}, split: {valid: 0.15, test: 0.2}}\n"
        "stages: [tokenize, {embed: {dim: 8}}, {encode: {units: 8}}, classify, "
        f"{{train: {{epochs: 2, batch_size: 32}}}}, evaluate, {export}]\n", encoding="utf-8")
    return path


def run_json(pipeline: Path, *options: str) -> dict:
    proc = seqpipe("run", pipeline.name, "--json", "--no-progress", *options, cwd=pipeline.parent)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_predictions(result: dict) -> pd.DataFrame:
    return pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_predictions.csv")


def predict_labels(model: str, texts: list[str], cwd: Path, *options: str) -> list[str]:
    proc = seqpipe("predict", model, *options, stdin="\n".join(texts) + "\n", cwd=cwd)
    return pd.read_csv(io.StringIO(proc.stdout), sep="\t")["label"].tolist()


def artifact_paths(client, run_id: str, path: str | None = None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        found |= artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return found


@pytest.fixture(scope="module")
def server_run(mlflow_server, tmp_path_factory):
    """One tiny classification run tracked on the server and registered as 'server-sentiment'."""
    folder = tmp_path_factory.mktemp("server-run")
    started = time.monotonic()
    result = run_json(classifier_pipeline(folder, "server-sentiment", register_as="server-sentiment"),
                      "-o", f"tracking.uri={mlflow_server.uri}", "-o", "tracking.experiment=server-smoke")
    return {"result": result, "folder": folder, "client": mlflow_server.client(), "seconds": time.monotonic() - started}


def test_the_run_is_recorded_on_the_server(server_run, mlflow_server):
    result, client = server_run["result"], server_run["client"]
    assert result["status"] == "FINISHED" and result["warnings"] == []
    assert result["tracking_uri"] == mlflow_server.uri
    run = client.get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "server-smoke"
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # uploaded through the server
    assert run.data.params["stages.train.epochs"] == "2"
    assert run.data.params["stages.export.register_as"] == "server-sentiment"
    assert run.data.metrics["test_accuracy"] == pytest.approx(result["metrics"]["test_accuracy"])
    assert [m.step for m in client.get_metric_history(result["run_id"], "val_loss")] == [0, 1]
    assert run.data.tags["seqpipe.run_dir"] == result["run_dir"]
    assert run.data.tags["seqpipe.registered_model"] == "server-sentiment/1"
    assert "seqpipe.tracking_warnings" not in run.data.tags
    artifacts = artifact_paths(client, result["run_id"])
    for expected in ("resolved.yaml", "run.log", "vocab.txt", "evaluation/test_predictions.csv",
                     "evaluation/test_report.csv", "export/saved_model/saved_model.pb",
                     "export/saved_model/seqpipe.json"):
        assert expected in artifacts, expected
    (output,) = run.outputs.model_outputs
    logged = client.get_logged_model(output.model_id)
    assert logged.name == "model" and logged.source_run_id == result["run_id"]
    # the client kept nothing of the store: no local database, no local artifact folder
    assert not (server_run["folder"] / "mlflow.db").exists() and not (server_run["folder"] / "mlruns").exists()
    assert any(mlflow_server.artifacts.rglob("saved_model.pb"))


def test_the_logged_model_loads_from_the_server_and_predicts(server_run, mlflow_server, monkeypatch):
    result = server_run["result"]
    table = run_predictions(result).head(10)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)  # where runs:/ resolves
    model = mlflow.pyfunc.load_model(f"runs:/{result['run_id']}/model")
    out = model.predict(pd.DataFrame({"text": table["text"]}))
    assert out["label"].tolist() == table["predicted"].tolist()


def test_compare_lists_the_run_from_the_server(server_run, mlflow_server):
    proc = seqpipe("compare", "--tracking-uri", mlflow_server.uri, "--experiment", "server-smoke", "--format", "json",
                   cwd=server_run["folder"])
    text = proc.stdout.strip()
    records = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines()]
    assert server_run["result"]["run_id"] in {r["run_id"] for r in records}


def test_the_registered_version_serves_the_runs_predictions_from_the_server(server_run, mlflow_server, tmp_path,
                                                                            monkeypatch):
    result, client = server_run["result"], server_run["client"]
    version = client.get_model_version("server-sentiment", "1")
    assert version.run_id == result["run_id"]
    headline = {k: v for k, v in result["metrics"].items() if k.startswith(("test_", "valid_")) and "/" not in k}
    assert {"test_accuracy", "test_macro_f1"} <= set(headline)
    assert {k: float(version.tags[k]) for k in headline} == pytest.approx(headline)
    assert version.tags["seqpipe.task"] == "classification"
    assert version.tags["seqpipe.pipeline"] == "server-sentiment"
    assert version.tags["seqpipe.run_dir"] == result["run_dir"]
    assert not any("/" in key for key in version.tags)  # per-class scores stay on the run
    client.set_registered_model_alias("server-sentiment", "champion", "1")

    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path / "cache"))  # where predict keeps downloaded models
    table = run_predictions(result).head(12)
    texts, expected = table["text"].tolist(), table["predicted"].tolist()
    for uri in ("models:/server-sentiment/1", "models:/server-sentiment@champion", "models:/server-sentiment/latest"):
        assert predict_labels(uri, texts, tmp_path, "--tracking-uri", mlflow_server.uri) == expected, uri
    assert len(list((tmp_path / "cache" / "models").glob("*/saved_model/saved_model.pb"))) == 1  # downloaded once

    missing = seqpipe("predict", "models:/server-sentiment/9", "--tracking-uri", mlflow_server.uri, stdin="x\n",
                      cwd=tmp_path, check=False)
    assert missing.returncode == 2
    assert missing.stderr.strip() == ("models:/server-sentiment/9: model 'server-sentiment' has no version 9; "
                                      "versions: 1; aliases: @champion (version 1)")


def test_new_versions_of_an_existing_model_through_the_tracker(server_run, mlflow_server, tmp_path,
                                                                 monkeypatch):
    """MLflowTracker.register_model over HTTP: the model exists after the first version, the next is 2."""
    from seqpipe.predict import resolve_export
    from seqpipe.tracking import MLflowTracker

    export = Path(server_run["result"]["run_dir"]) / "export"
    with MLflowTracker(mlflow_server.uri) as tracker:
        tracker.start("server-copies", "copy", {})
        model_uri = tracker.log_pyfunc_model(export / "saved_model", pip_requirements=["mlflow"],
                                             serving=classification_serving)
        versions = [tracker.register_model(model_uri, "server-copy", {"test_accuracy": str(n)}) for n in (1, 2)]
    assert versions == ["1", "2"]
    assert mlflow_server.client().get_model_version("server-copy", "2").tags["test_accuracy"] == "2"
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path / "cache"))
    saved_model = resolve_export("models:/server-copy/latest", tracking_uri=mlflow_server.uri)
    assert (saved_model / "seqpipe.json").read_text() == (export / "saved_model" / "seqpipe.json").read_text()
    files = sorted(p.name for p in saved_model.parent.iterdir() if not p.name.startswith("."))
    assert files == ["saved_model", "seqpipe_serving.py"]


def test_register_then_predict_with_a_local_store(tmp_path):
    """The same round trip on the default sqlite store (./mlflow.db)."""
    result = run_json(classifier_pipeline(tmp_path, "local-sentiment", register_as="local-sentiment"))
    assert result["warnings"] == []
    assert result["tracking_uri"] == f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}"
    run = mlflow.MlflowClient(result["tracking_uri"]).get_run(result["run_id"])
    assert run.data.tags["seqpipe.registered_model"] == "local-sentiment/1"
    table = run_predictions(result).head(12)
    assert predict_labels("models:/local-sentiment/1", table["text"].tolist(), tmp_path) == table["predicted"].tolist()


def test_a_registry_that_refuses_the_version_leaves_the_run_finished_with_a_warning(tmp_path, monkeypatch, capsys):
    from seqpipe.cli import main
    from seqpipe.tracking import MLflowTracker

    def refuse(self, model_uri, name, tags):
        raise PermissionError(f"registry is read-only\nwhile creating {name}")

    monkeypatch.setattr(MLflowTracker, "register_model", refuse)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    pipeline = classifier_pipeline(tmp_path, "refused", register_as="refused")
    assert main(["run", str(pipeline), "--no-progress"]) == 4  # finished with warnings
    err = capsys.readouterr().err
    assert ("tracking: could not log the registered model version of refused (PermissionError: registry is "
            "read-only); the run goes on and keeps it in its folder") in err
    client = mlflow.MlflowClient(f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}")
    (run,) = client.search_runs([client.get_experiment_by_name("refused").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["seqpipe.tracking_warnings"] == ("the registered model version of refused: "
                                                          "PermissionError: registry is read-only")
    assert "seqpipe.registered_model" not in run.data.tags
    assert run.outputs.model_outputs  # the MLflow model itself was logged


LM_PIPELINE = """name: server-lm
task: language_model
data: {source: {path: text.jsonl, columns: {text: text, group: play}}, split: {valid: 0.2, test: 0.2, group_by: group}}
stages:
  - tokenize: {kind: char, lowercase: false}
  - embed: {dim: 8}
  - encode: {cell: lstm, units: 8}
  - lm: {}
  - train: {epochs: 1, batch_size: 4, window: 16}
  - evaluate: {splits: [valid], shuffled_pairs: 0}
  - export: {keras: true, register_as: server-lm}
"""


def test_generate_and_score_a_registered_language_model_from_the_server(mlflow_server, tmp_path,
                                                                        monkeypatch):
    """generate rebuilds the model from model.keras and text_encoder.json, which travel in the MLflow model."""
    with open(tmp_path / "text.jsonl", "w", encoding="utf-8") as out:
        for play in range(10):
            lines = "\n".join("to be or not to be" for _ in range(20))
            out.write(json.dumps({"text": lines, "play": f"p{play}"}) + "\n")
    (tmp_path / "lm.yaml").write_text(LM_PIPELINE, encoding="utf-8")
    result = run_json(tmp_path / "lm.yaml", "-o", f"tracking.uri={mlflow_server.uri}")
    assert result["warnings"] == []
    assert mlflow_server.client().get_run(result["run_id"]).data.tags["seqpipe.registered_model"] == "server-lm/1"
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path / "cache"))
    server = ("--tracking-uri", mlflow_server.uri)
    args = ("--prompt", "to be", "--max-length", "12", "--greedy")
    from_registry = seqpipe("generate", "models:/server-lm/1", *args, *server, cwd=tmp_path).stdout
    assert from_registry == seqpipe("generate", result["run_dir"], *args, cwd=tmp_path).stdout
    assert from_registry.startswith("to be")
    scored = seqpipe("score", "models:/server-lm/latest", *server,
                     stdin="to be or not\n", cwd=tmp_path).stdout
    assert scored == seqpipe("score", result["run_dir"], stdin="to be or not\n", cwd=tmp_path).stdout


def test_an_unreachable_server_fails_at_once_with_exit_2(tmp_path):
    pipeline = classifier_pipeline(tmp_path, "nowhere")
    (tmp_path / "sentiment.tsv").unlink()  # tracking must fail before the data is read
    uri = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = seqpipe("run", pipeline.name, "-o", f"tracking.uri={uri}", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert time.monotonic() - started < 60  # MLflow alone retries for about four minutes
    assert f"tracking: cannot start a run in {uri} (ConnectionError: no tracking server answers at {uri} " \
           "(connection refused))" in proc.stderr
    assert "Traceback" not in proc.stderr and "sentiment.tsv" not in proc.stderr
    missing = seqpipe("predict", "models:/m/1", "--tracking-uri", uri, stdin="x\n", cwd=tmp_path, check=False)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (f"models:/m/1: no tracking server answers at {uri} (connection refused); "
                                      "check --tracking-uri / MLFLOW_TRACKING_URI")
