"""Sweeps: one parent MLflow run, a nested child per trial, a summary and a plot; on a local store and a server."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest

from seqpipe.cli import main
from tests.integration.conftest import seqpipe
from tests.integration.mlflow_server import mlflow_server_fixture  # noqa: F401  (fixture mlflow_server)

PIPELINE = """\
name: swept
task: classification
seed: 4
data: {source: {path: data.tsv}, split: {valid: 0.2, test: 0.2}}
stages:
  - tokenize: {vocab_size: 60}
  - embed: {dim: 8}
  - encode: {cell: gru, units: 4}
  - classify: {}
  - train: {epochs: 2, batch_size: 16, monitor: val_accuracy}
  - evaluate: {}
  - export: {keras: false, log_model: false}
sweep:
  metric: val_accuracy
  parallel: 2
  params:
    encode.cell: [lstm, gru]
    encode.units: [4, 8]
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    rows = ["text\tlabel"] + [f"this {('good', 'bad')[i % 2]} film {i % 11}\t{('pos', 'neg')[i % 2]}"
                              for i in range(160)]
    (tmp_path / "data.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text(PIPELINE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_a_grid_sweep_gives_a_parent_run_with_a_child_per_trial_a_summary_and_a_plot(workdir, capsys):
    assert main(["sweep", "p.yaml"]) == 0
    out = capsys.readouterr()
    client = mlflow.MlflowClient(f"sqlite:///{(workdir / 'mlflow.db').as_posix()}")
    runs = client.search_runs([client.get_experiment_by_name("swept").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("seqpipe.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 4 and all(c.info.status == "FINISHED" for c in children)
    settings = sorted((c.data.params["stages.encode.cell"], c.data.params["stages.encode.units"]) for c in children)
    assert settings == [("gru", "4"), ("gru", "8"), ("lstm", "4"), ("lstm", "8")]
    folder = Path(parent.data.tags["seqpipe.run_dir"])
    summary = pd.read_csv(folder / "summary.csv")
    assert list(summary["trial"]) == [1, 2, 3, 4] and set(summary["status"]) == {"FINISHED"}
    best_child = max(children, key=lambda c: max(m.value for m in client.get_metric_history(c.info.run_id,
                                                                                             "val_accuracy")))
    best_value = max(summary["val_accuracy"])
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(best_value)
    assert client.get_run(parent.data.tags["seqpipe.sweep.best_run_id"]).data.metrics  # a real child run
    assert max(m.value for m in client.get_metric_history(best_child.info.run_id, "val_accuracy")) == \
        pytest.approx(best_value)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"summary.csv", "summary.md", "sweep.json", "sweep_val_accuracy.png"} <= artifacts
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials_finished"] == 4
    assert "best trial" in out.err
    # compare reads the trials back from the store
    assert main(["compare", "--parent", parent.info.run_id, "--format", "csv", "--metric", "test_accuracy"]) == 0
    table = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert sorted(table["run_id"]) == sorted(c.info.run_id for c in children)
    assert list(table["test_accuracy"]) == sorted(table["test_accuracy"], reverse=True)  # best first


def test_every_trial_is_validated_first_and_a_failed_trial_does_not_stop_the_others(workdir, capsys):
    # a bad value: refused before anything runs, naming the option and the value
    assert main(["sweep", "p.yaml", "--grid", "encode.units=4,0"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "--grid encode.units=4,0: encode.units[1]: must be greater than or equal to 1; got 0"]
    assert not (workdir / "runs").exists()
    # a trial that diverges at run time is FAILED; the other finishes
    assert main(["sweep", "p.yaml", "--grid", "encode.cell=gru", "--grid", "encode.units=4",
                 "--grid", "train.optimizer={name: sgd, learning_rate: 0.01},{name: sgd, learning_rate: 3.0e+38}",
                 "--parallel", "1"]) == 0
    table = pd.read_csv(next((workdir / "runs").glob("swept-sweep-*")) / "summary.csv")
    assert list(table["status"]) == ["FINISHED", "FAILED"]
    assert "training diverged" in table["error"].iloc[1]


def test_dry_run_lists_the_trials(workdir, capsys):
    assert main(["sweep", "p.yaml", "--dry-run"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "trial 1: encode.cell=lstm, encode.units=4", "trial 2: encode.cell=lstm, encode.units=8",
        "trial 3: encode.cell=gru, encode.units=4", "trial 4: encode.cell=gru, encode.units=8"]
    assert not (workdir / "runs").exists()


def test_a_two_trial_sweep_and_compare_against_a_real_server(workdir, mlflow_server):
    proc = seqpipe("sweep", "p.yaml", "--grid", "encode.cell=lstm,gru", "--grid", "encode.units=4",
                   "-o", f"tracking.uri={mlflow_server.uri}", "-o", "tracking.experiment=server-sweep", cwd=workdir)
    assert proc.returncode == 0
    client = mlflow_server.client()
    runs = client.search_runs([client.get_experiment_by_name("server-sweep").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("seqpipe.sweep") == "parent"]
    assert len([r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]) == 2
    shown = seqpipe("compare", "--tracking-uri", mlflow_server.uri, "--parent", parent.info.run_id, "--format", "csv",
                    cwd=workdir)
    table = pd.read_csv(pd.io.common.StringIO(shown.stdout))
    assert len(table) == 2 and set(table["encode.cell"]) == {"lstm", "gru"}
