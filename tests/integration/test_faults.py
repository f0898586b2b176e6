"""Faults lose nothing: a NaN loss stops cleanly, SIGTERM and SIGKILL leave a checkpoint that --resume continues."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from seqpipe.cli import main

PIPELINE = """\
name: faults
task: classification
seed: 5
runtime: {deterministic: true}
data: {source: {path: data.tsv}, split: {valid: 0.2, test: 0.2}}
stages:
  - tokenize: {vocab_size: 60}
  - embed: {dim: 8, dropout: 0.2}
  - encode: {cell: gru, units: 8, bidirectional: true}
  - classify: {dropout: 0.2}
  - train: {epochs: EPOCHS, batch_size: 8, checkpoint_every: 5, optimizer: {learning_rate: 0.01},
            early_stopping: {patience: 50}}
  - evaluate: {splits: [valid, test]}
  - export: {keras: false, log_model: false}
"""


def write(tmp_path: Path, epochs: int = 12, **replace) -> Path:
    rows = ["text\tlabel"]
    for i in range(300):
        label = ("good", "bad")[i % 2]
        rows.append(f"this {label} film number {i % 17} was {('fine', 'dull', 'long')[i % 3]}\t{label}")
    (tmp_path / "data.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    text = PIPELINE.replace("EPOCHS", str(epochs))
    for old, new in replace.items():
        text = text.replace(old, new)
    (tmp_path / "p.yaml").write_text(text, encoding="utf-8")
    return tmp_path / "p.yaml"


def start(cwd: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen([sys.executable, "-m", "seqpipe", "run", "p.yaml", "--no-progress", "--json", "--no-cache",
                             *args],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(cwd: Path, epoch: int, timeout: float = 240) -> Path:
    """The run folder once its checkpoint says at least ``epoch`` epochs are done."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for state in cwd.glob("runs/*/checkpoints/last.json"):
            try:
                if json.loads(state.read_text())["epoch"] >= epoch:
                    return state.parents[1]
            except (ValueError, KeyError):
                pass  # being replaced
        time.sleep(0.2)
    raise AssertionError("no checkpoint appeared")


def final(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("uninterrupted")
    write(cwd)
    return final(start(cwd))


def test_sigkill_then_resume_gives_the_uninterrupted_metrics(uninterrupted, tmp_path):
    write(tmp_path)
    proc = start(tmp_path)
    run_dir = wait_for_checkpoint(tmp_path, epoch=3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    client = mlflow.MlflowClient(f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}")
    assert client.get_run(run_id).info.status == "RUNNING"  # nobody could mark it
    resumed = final(start(tmp_path, "--resume", str(run_dir)))
    assert resumed["run_id"] == run_id and Path(resumed["run_dir"]) == run_dir
    assert resumed["metrics"] == uninterrupted["metrics"]  # bit-identical (deterministic ops, seeded epoch order)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    epochs = [m.step for m in client.get_metric_history(run_id, "val_accuracy")]
    assert sorted(set(epochs)) == list(range(12))
    assert "resuming training at epoch" in (run_dir / "run.log").read_text()


def test_sigterm_checkpoints_mid_epoch_marks_the_run_killed_and_resumes_exactly(uninterrupted, tmp_path):
    write(tmp_path)
    proc = start(tmp_path)
    run_dir = wait_for_checkpoint(tmp_path, epoch=2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert f"continue with: seqpipe run p.yaml --resume {run_dir}" in err and "Traceback" not in err
    state = json.loads((run_dir / "checkpoints" / "last.json").read_text())
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    client = mlflow.MlflowClient(f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}")
    run = client.get_run(run_id)
    assert run.info.status == "KILLED" and run.data.tags["seqpipe.failure"].startswith("interrupted (SIGTERM)")
    resumed = final(start(tmp_path, "--resume", run_id))  # by MLflow run id this time
    assert resumed["metrics"] == uninterrupted["metrics"], state
    assert client.get_run(run_id).info.status == "FINISHED"


def test_resume_refuses_a_changed_pipeline(tmp_path, monkeypatch, capsys):
    write(tmp_path, epochs=1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["run", "p.yaml", "--no-progress", "--no-cache"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    capsys.readouterr()
    assert main(["run", "p.yaml", "--resume", str(run_dir), "-o", "embed.dim=9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"--resume {run_dir}: the pipeline differs from the run's resolved.yaml at stages.embed.dim "
                          "(was 8, now 9)")
    # more epochs are allowed: training continues from the end of the first
    assert main(["run", "p.yaml", "--resume", str(run_dir), "-o", "train.epochs=2", "--no-progress", "--no-cache"]) == 0
    history = json.loads((run_dir / "checkpoints" / "last.json").read_text())["history"]
    assert len(history["val_accuracy"]) == 2


def test_a_nan_loss_stops_with_the_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    from seqpipe.train.checkpoints import StopOnNonFinite

    original = StopOnNonFinite.on_train_batch_end

    def poisoned(self, batch, logs=None):  # the loss turns NaN at epoch 2, step 3
        if self.epoch == 1 and batch == 2:
            logs = {**(logs or {}), "loss": float("nan")}
        return original(self, batch, logs)

    monkeypatch.setattr(StopOnNonFinite, "on_train_batch_end", poisoned)
    write(tmp_path, epochs=3)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["run", "p.yaml", "--no-progress", "--no-cache"]) == 2
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "diverged" in line)
    assert line == ("training diverged at epoch 2, step 3: the loss is nan; the last good checkpoint is kept in "
                    "checkpoints/; lower train.optimizer.learning_rate or set train.clipnorm")
    (run_dir,) = (tmp_path / "runs").iterdir()
    state = json.loads((run_dir / "checkpoints" / "last.json").read_text())
    assert (state["epoch"], state["batch"]) == (1, 0)  # the end of epoch 1 (checkpoint_every 5 not reached)
    assert all(math.isfinite(v) for v in state["history"]["loss"])
    client = mlflow.MlflowClient(f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}")
    (run,) = client.search_runs([client.get_experiment_by_name("faults").experiment_id])
    assert run.info.status == "FAILED" and run.data.tags["seqpipe.failure"].startswith("TrainingDiverged: training "
                                                                                         "diverged at epoch 2, step 3")


def test_a_real_divergence_is_caught(tmp_path, monkeypatch, capsys):
    write(tmp_path, epochs=2, **{"optimizer: {learning_rate: 0.01}": "optimizer: {name: sgd, learning_rate: 3.0e+38}"})
    monkeypatch.chdir(tmp_path)
    assert main(["run", "p.yaml", "--no-progress", "--no-cache", "-o", "tracking.backend=none"]) == 2
    assert "training diverged at epoch 1, step " in capsys.readouterr().err


def test_an_unwritable_run_folder_fails_before_the_data_is_read(tmp_path, monkeypatch, capsys):
    write(tmp_path, epochs=1)
    (tmp_path / "data.tsv").unlink()
    (tmp_path / "blocked").write_text("a file, not a folder")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "p.yaml", "-o", "output_dir=blocked/runs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cannot create the run folder blocked/runs/faults-") and "set output_dir" in err
    assert "data.tsv" not in err
