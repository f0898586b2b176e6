"""Optuna searches: a TPE search whose median pruner stops a bad trial, and a killed search resumed to completion."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest

from seqpipe.cli import main

# seed 0: Optuna's TPE sampler (random for its first 10 trials) tries 0.05, then 1e-6, then 0.05: the second trial's
# first-epoch val_loss (~0.69) is far above the first trial's (~0.13), so the median pruner (one trial to start)
# stops it after its first epoch; the third trial reuses the first one's training from the stage cache.
PIPELINE = """\
name: tpe-swept
task: classification
seed: 4
data: {source: {path: data.tsv}, split: {valid: 0.2, test: 0.2}}
stages:
  - tokenize: {vocab_size: 60}
  - embed: {dim: 8}
  - encode: {cell: gru, units: 4}
  - classify: {}
  - train: {epochs: 3, batch_size: 16, monitor: val_loss, optimizer: {name: adam, learning_rate: 0.01}}
  - evaluate: {}
  - export: {keras: false, log_model: false}
sweep:
  method: tpe
  trials: 3
  seed: 0
  metric: val_loss
  params:
    train.optimizer.learning_rate: [1.0e-6, 0.05]
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    rows = ["text\tlabel"] + [f"this {('good', 'bad')[i % 2]} film {i % 11}\t{('pos', 'neg')[i % 2]}"
                              for i in range(160)]
    (tmp_path / "data.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path / "cache"))  # no training reused from another test's runs
    return tmp_path


def _runs(workdir: Path, experiment: str):
    client = mlflow.MlflowClient(f"sqlite:///{(workdir / 'mlflow.db').as_posix()}")
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("seqpipe.sweep") == "parent"]
    children = sorted((r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
                      key=lambda r: r.info.start_time)
    return parent, children


def _study(url: str):
    (summary,) = optuna.get_all_study_summaries(url)
    return optuna.load_study(study_name=summary.study_name, storage=url)


def test_a_tpe_search_prunes_a_bad_trial_and_marks_it_in_optuna_mlflow_and_the_summary(workdir, capsys):
    text = PIPELINE.replace("  metric: val_loss\n", "  metric: val_loss\n  storage: studies/search.db\n"
                            "  pruner: {kind: median, startup_trials: 1, warmup_epochs: 0}\n")
    (workdir / "p.yaml").write_text(text, encoding="utf-8")
    assert main(["sweep", "p.yaml"]) == 0
    err = capsys.readouterr().err
    assert "trial 2 (2/3; train.optimizer.learning_rate=1e-06): PRUNED" in err
    assert not (workdir / "optuna.db").exists()  # sweep.storage put it elsewhere
    study = _study(f"sqlite:///{(workdir / 'studies' / 'search.db').as_posix()}")
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                      optuna.trial.TrialState.COMPLETE]
    assert [t.params["train.optimizer.learning_rate"] for t in study.trials] == [0.05, 1e-6, 0.05]
    assert list(study.trials[1].intermediate_values) == [0]  # reported its first epoch, then stopped
    assert study.direction == optuna.study.StudyDirection.MINIMIZE  # val_loss: lower is better
    parent, children = _runs(workdir, "tpe-swept")
    assert study.user_attrs["parent_run_id"] == parent.info.run_id
    assert [c.info.status for c in children] == ["FINISHED", "KILLED", "FINISHED"]
    assert [c.data.tags.get("seqpipe.sweep.pruned") for c in children] == [None, "true", None]
    assert children[1].data.tags["seqpipe.sweep.pruned_at_epoch"] == "1"
    assert "test_accuracy" not in children[1].data.metrics  # a pruned trial is not evaluated
    assert parent.info.status == "FINISHED"
    assert (parent.data.metrics["trials_finished"], parent.data.metrics["trials_pruned"],
            parent.data.metrics["trials_failed"]) == (2, 1, 0)
    table = pd.read_csv(Path(parent.data.tags["seqpipe.run_dir"]) / "summary.csv")
    assert list(table["status"]) == ["FINISHED", "PRUNED", "FINISHED"]
    assert table["val_loss"].isna().tolist() == [False, True, False]
    assert parent.data.metrics["best_val_loss"] == pytest.approx(table["val_loss"].min())


def _wait_for(predicate, seconds: float, proc) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, f"the sweep ended early ({proc.returncode})"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_killed_tpe_search_resumes_to_completion_with_the_trial_count_intact(workdir, capsys):
    (workdir / "p.yaml").write_text(PIPELINE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                                     os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "seqpipe", "sweep", "p.yaml"], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        jsonl = lambda: next((workdir / "runs").glob("tpe-swept-sweep-*/trials.jsonl"), None)  # noqa: E731
        _wait_for(lambda: jsonl() is not None and jsonl().read_text().count("\n") == 1, 240, proc)
        # the second trial has started its MLflow run (run.json is written right after)
        _wait_for(lambda: len(list((workdir / "runs").glob("tpe-swept-2*/run.json"))) == 2, 120, proc)
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    folder = jsonl().parent
    first = json.loads(folder.joinpath("trials.jsonl").read_text().splitlines()[0])
    parent_before = json.loads((folder / "sweep.json").read_text())["parent_run_id"]
    time.sleep(5)  # the running trial got SIGTERM when its sweep died: let it record its run as KILLED
    assert main(["sweep", "p.yaml", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "resuming: 1 finished" in err
    assert "was interrupted; marked seqpipe.sweep.interrupted=true" in err
    study = _study(f"sqlite:///{(workdir / 'optuna.db').as_posix()}")  # the default: beside mlflow.db
    interrupted = [t for t in study.trials if t.user_attrs.get("seqpipe_interrupted")]
    finished = [t for t in study.trials if not t.user_attrs.get("seqpipe_interrupted")]
    assert len(interrupted) == 1 and interrupted[0].state == optuna.trial.TrialState.FAIL
    assert len(finished) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in finished)
    parent, children = _runs(workdir, "tpe-swept")  # one parent run: the same one
    assert parent.info.run_id == parent_before == study.user_attrs["parent_run_id"]
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials_finished"] == 3
    marked = [c for c in children if c.data.tags.get("seqpipe.sweep.interrupted") == "true"]
    kept = [c for c in children if c not in marked]
    assert len(marked) == 1 and marked[0].info.status == "KILLED"
    assert len(kept) == 3 and all(c.info.status == "FINISHED" for c in kept)
    records = [json.loads(line) for line in (folder / "trials.jsonl").read_text().splitlines()]
    assert [r["trial"] for r in records] == [1, 3, 4]  # trial 2 was interrupted; 1 was not run again
    assert records[0]["run_id"] == first["run_id"] and len({r["run_id"] for r in records}) == 3
    assert {r["run_id"] for r in records} == {c.info.run_id for c in kept}
    assert list(pd.read_csv(folder / "summary.csv")["trial"]) == [1, 3, 4]
    assert main(["sweep", "p.yaml", "--resume"]) == 2  # nothing left to resume
    assert "finished; nothing to resume" in capsys.readouterr().err
