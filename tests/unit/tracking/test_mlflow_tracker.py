"""MLflowTracker against a temporary sqlite store, read back with MlflowClient."""

import os

import pytest

from seqpipe.errors import SeqpipeError
from seqpipe.tracking import (
    TRACKERS,
    MLflowTracker,
    NullTracker,
    Tracker,
    ensure_store,
    resolve_tracking_uri,
)


def test_registry():
    assert TRACKERS.names() == ["mlflow", "none"]
    assert TRACKERS.get("mlflow") is MLflowTracker
    assert TRACKERS.get("none") is NullTracker


def test_resolve_tracking_uri(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert resolve_tracking_uri(None) == "http://mlflow:5000"
    assert resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"


def test_run_round_trip(store_uri, client, tmp_path):
    (tmp_path / "report.txt").write_text("hello")
    (tmp_path / "plots" / "sub").mkdir(parents=True)
    (tmp_path / "plots" / "cm.png").write_bytes(b"png")
    (tmp_path / "plots" / "sub" / "a.txt").write_text("a")
    config = {"train": {"optimizer": {"learning_rate": 0.01}, "units": [8, 4]}}
    config.update({f"p{i}": i for i in range(250)})  # more than one batch

    tracker = MLflowTracker(store_uri)
    run_id = tracker.start("exp", "first", {"task": "classification"})
    tracker.log_params(config)
    tracker.log_metrics({"loss": 0.5, "accuracy": 0.6}, step=1)
    tracker.log_metrics({"loss": 0.25}, step=2)
    tracker.log_metrics({"test/macro f1": 0.7})
    tracker.set_tags({"stage": "eval"})
    tracker.log_artifact(tmp_path / "report.txt")
    tracker.log_artifact(tmp_path / "report.txt", "reports")
    tracker.log_artifact(tmp_path / "plots")
    assert client.get_run(run_id).info.status == "RUNNING"
    tracker.end()

    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "first"
    assert run.info.experiment_id == tracker.experiment_id
    assert client.get_experiment(tracker.experiment_id).name == "exp"
    assert run.data.params["train.optimizer.learning_rate"] == "0.01"
    assert run.data.params["train.units"] == "[8, 4]"
    assert len(run.data.params) == 252
    assert run.data.tags["task"] == "classification"
    assert run.data.tags["stage"] == "eval"
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.25)]
    assert run.data.metrics["test/macro f1"] == 0.7

    def listing(path=None):
        return sorted(f.path for f in client.list_artifacts(run_id, path))

    assert listing() == ["plots", "report.txt", "reports"]
    assert listing("reports") == ["reports/report.txt"]
    assert listing("plots") == ["plots/cm.png", "plots/sub"]
    assert listing("plots/sub") == ["plots/sub/a.txt"]
    # artifacts live next to the database, not in the working directory
    store_dir = tmp_path / "store"
    assert run.info.artifact_uri == (store_dir / "mlruns" / "exp" / run_id / "artifacts").as_uri()


def test_urls_and_ids(store_uri):
    tracker = MLflowTracker(store_uri)
    assert tracker.tracking_uri == store_uri
    assert tracker.run_id is None and tracker.ui_url is None
    run_id = tracker.start("exp", "r", {})
    assert tracker.run_id == run_id
    assert tracker.ui_url == (
        f"http://127.0.0.1:5000/#/experiments/{tracker.experiment_id}/runs/{run_id}"
    )
    tracker.end()
    assert tracker.run_id == run_id  # still readable after the run ended
    tracker.end()  # ending twice is harmless


def test_second_run_reuses_experiment(store_uri, client):
    first, second = MLflowTracker(store_uri), MLflowTracker(store_uri)
    with first, second:
        first.start("shared", "a", {})
        second.start("shared", "b", {})
        first.log_metrics({"m": 1.0})
    assert first.experiment_id == second.experiment_id
    assert "m" not in client.get_run(second.run_id).data.metrics


def test_context_manager_statuses(store_uri, client):
    with pytest.raises(ValueError):
        with MLflowTracker(store_uri) as failed:
            failed.start("exp", "boom", {})
            raise ValueError("boom")
    with pytest.raises(KeyboardInterrupt):
        with MLflowTracker(store_uri) as killed:
            killed.start("exp", "ctrl-c", {})
            raise KeyboardInterrupt
    assert client.get_run(failed.run_id).info.status == "FAILED"
    assert client.get_run(killed.run_id).info.status == "KILLED"


def test_misuse_is_reported(store_uri, client, tmp_path):
    tracker = MLflowTracker(store_uri)
    with pytest.raises(RuntimeError, match="start"):
        tracker.log_metrics({"m": 1.0})
    tracker.start("exp", "r", {})
    with pytest.raises(RuntimeError, match="still active"):
        tracker.start("exp", "again", {})
    with pytest.raises(FileNotFoundError):
        tracker.log_artifact(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="FINISHED, FAILED, KILLED"):
        tracker.end("DONE")
    tracker.end()


def test_deleted_experiment_is_a_user_error(store_uri, client):
    tracker = MLflowTracker(store_uri)
    tracker.start("gone", "r", {})
    tracker.end()
    client.delete_experiment(tracker.experiment_id)
    with pytest.raises(SeqpipeError, match="deleted"):
        MLflowTracker(store_uri).start("gone", "r", {})


def test_null_tracker(tmp_path):
    tracker = NullTracker(tracking_uri="ignored")
    assert isinstance(tracker, Tracker)
    with tracker:
        assert tracker.start("exp", "run", {"a": "b"}) is None
        tracker.log_params({"a": {"b": 1}})
        tracker.log_metrics({"m": 1.0}, step=3)
        tracker.set_tags({"t": "v"})
        tracker.log_artifact(tmp_path / "anything", "dir")
        assert tracker.log_pyfunc_model(tmp_path, pip_requirements=[], serving=None) is None
    assert (tracker.run_id, tracker.tracking_uri, tracker.experiment_id, tracker.ui_url) == (
        None,
        None,
        None,
        None,
    )
    with pytest.raises(ValueError):
        tracker.end("DONE")


def test_ensure_store_ignores_non_sqlite_uris():
    ensure_store("http://localhost:1")  # would fail if it tried to connect
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
