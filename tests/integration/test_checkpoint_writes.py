"""Checkpoint writes: a kill inside one leaves the run resumable (exactly), a damaged checkpoint and a full disk
are one line each (exit 2), the full disk marks the MLflow run FAILED and loses nothing."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from seqpipe.cli import main

REPO = Path(__file__).resolve().parents[2]

PIPELINE = """\
name: writes
task: classification
seed: 5
runtime: {deterministic: true}
data: {source: {path: data.tsv}, split: {valid: 0.2, test: 0.2}}
stages:
  - tokenize: {vocab_size: 60}
  - embed: {dim: 8, dropout: 0.2}
  - encode: {cell: gru, units: 8, bidirectional: true}
  - classify: {dropout: 0.2}
  - train: {epochs: EPOCHS, batch_size: 8, checkpoint_every: 5, optimizer: {learning_rate: 0.01}}
  - evaluate: {splits: [valid, test]}
  - export: {keras: false, log_model: false}
"""

# Run as `python kill.py POINT WRITE seqpipe-args...`: the seqpipe CLI, killed with SIGKILL at POINT inside its
# WRITE-th checkpoint write (counting from 1).
KILLER = """\
import os, signal, sys

import keras

from seqpipe.cli import main
from seqpipe.train import checkpoints

point, write = sys.argv[1], int(sys.argv[2])
calls, armed = [0], [False]


def kill():
    os.kill(os.getpid(), signal.SIGKILL)


save = checkpoints.TrainingState.save


def counted(self, model, state):
    calls[0] += 1
    armed[0] = calls[0] == write
    save(self, model, state)
    armed[0] = False


save_weights = keras.Model.save_weights


def weights_then_kill(self, path, *args, **kwargs):
    save_weights(self, path, *args, **kwargs)
    if armed[0] and point == "after_weights":
        kill()


replace = os.replace


def replace_with_kill(src, dst, *args, **kwargs):
    committing = armed[0] and os.path.basename(dst) == "last.json"
    if committing and point == "before_commit":
        kill()
    replace(src, dst, *args, **kwargs)
    if committing and point == "after_commit":
        kill()


checkpoints.TrainingState.save = counted
keras.Model.save_weights = weights_then_kill
os.replace = replace_with_kill
sys.exit(main(sys.argv[3:]))
"""


def write(tmp_path: Path, epochs: int = 2) -> Path:
    rows = ["text\tlabel"]
    for i in range(300):
        label = ("good", "bad")[i % 2]
        rows.append(f"this {label} film number {i % 17} was {('fine', 'dull', 'long')[i % 3]}\t{label}")
    (tmp_path / "data.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text(PIPELINE.replace("EPOCHS", str(epochs)), encoding="utf-8")
    (tmp_path / "kill.py").write_text(KILLER, encoding="utf-8")
    return tmp_path / "p.yaml"


def start(cwd: Path, *args: str, kill: tuple[str, int] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    head = ["kill.py", kill[0], str(kill[1])] if kill else ["-m", "seqpipe"]
    return subprocess.run([sys.executable, *head, "run", "p.yaml", "--no-progress", "--json", "--no-cache", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def final(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def client(cwd: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(f"sqlite:///{(cwd / 'mlflow.db').as_posix()}")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("uninterrupted")
    write(cwd)
    return final(start(cwd))


# 23 batches per epoch, a checkpoint every 5 and at each epoch's end: the 7th write is epoch 2, batch 10; the 6th
# epoch 2, batch 5. Killed before the commit, the run resumes from the 6th; after it, from the 7th.
@pytest.mark.parametrize(("point", "resumes_at"), [("after_weights", 5), ("before_commit", 5), ("after_commit", 10)])
def test_a_kill_inside_a_checkpoint_write_leaves_a_run_that_resumes_exactly(uninterrupted, tmp_path, point,
                                                                             resumes_at):
    write(tmp_path)
    killed = start(tmp_path, kill=(point, 7))
    assert killed.returncode == -9, killed.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    folder = run_dir / "checkpoints"
    meta = json.loads((folder / "last.json").read_text())
    assert (meta["epoch"], meta["batch"]) == (1, resumes_at)
    sets = sorted(p.name for p in folder.glob("last-*.weights.h5"))
    assert sets == ["last-000006.weights.h5", "last-000007.weights.h5"]  # the kill came inside the write
    resumed = final(start(tmp_path, "--resume", str(run_dir)))
    assert resumed["metrics"] == uninterrupted["metrics"]  # bit-identical (deterministic ops, seeded epoch order)
    assert f"resuming training at epoch 2, batch {resumes_at} of 23" in (run_dir / "run.log").read_text()
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    assert client(tmp_path).get_run(run_id).info.status == "FINISHED"
    meta = json.loads((folder / "last.json").read_text())
    assert meta["completed"] and meta["weights"] > "last-000007"  # the numbering went on
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("last")) == sorted(
        [meta["weights"], meta["rng"], "last.json"])  # one set: the orphans are gone


def test_a_kill_inside_the_first_write_trains_from_the_start(tmp_path):
    write(tmp_path, epochs=1)
    assert start(tmp_path, kill=("before_commit", 1)).returncode == -9
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert not (run_dir / "checkpoints" / "last.json").exists()
    final(start(tmp_path, "--resume", str(run_dir)))
    assert "no training checkpoint in" in (run_dir / "run.log").read_text()


@pytest.fixture
def trained(tmp_path, monkeypatch, capsys):
    """A finished one-epoch run in tmp_path (the working directory)."""
    write(tmp_path, epochs=1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["run", "p.yaml", "--no-progress", "--no-cache"]) == 0
    capsys.readouterr()
    (run_dir,) = (tmp_path / "runs").iterdir()
    return run_dir


def cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damaged", ["last.json", "weights"])
def test_resuming_from_a_damaged_checkpoint_is_one_line_naming_the_file(trained, capsys, damaged):
    folder = trained / "checkpoints"
    path = folder / (json.loads((folder / "last.json").read_text())["weights"] if damaged == "weights" else damaged)
    cut(path)
    assert main(["run", "p.yaml", "--no-progress", "--no-cache", "--resume", str(trained)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    (line,) = [line for line in err.splitlines() if "the training checkpoint is damaged" in line]
    assert line.startswith(f"{path}: the training checkpoint is damaged (")
    assert line.endswith(f"start a new run (without --resume), or delete {folder} and --resume {trained} to train "
                         "this run from the start")


def full_disk(path) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_a_full_disk_in_a_checkpoint_write_is_one_line_exit_2_and_the_run_failed(tmp_path, monkeypatch, capsys):
    import keras

    save_weights, calls = keras.Model.save_weights, []

    def fills_the_disk(self, path, *args, **kwargs):  # the third checkpoint write finds the disk full
        calls.append(path)
        if len([p for p in calls if Path(p).name.startswith("last-")]) == 3:
            raise full_disk(path)
        return save_weights(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", fills_the_disk)
    write(tmp_path, epochs=1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["run", "p.yaml", "--no-progress", "--no-cache"]) == 2
    err = capsys.readouterr().err
    (run_dir,) = (tmp_path / "runs").iterdir()
    folder = run_dir / "checkpoints"
    (line,) = [line for line in err.splitlines() if "no space left" in line]
    assert line == (f"no space left on device while writing {folder}: free space on that disk (or set output_dir to "
                    f"a folder on another one), then continue with --resume {run_dir}; nothing was lost: {folder} "
                    "keeps the last complete training checkpoint")
    assert "Traceback" not in err and "internal error" not in err
    assert json.loads((folder / "last.json").read_text())["batch"] == 10  # the second write
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    run = client(tmp_path).get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["seqpipe.failure"].startswith("DiskFullError: no space left on device while writing")


def test_a_full_disk_after_training_fails_the_run_and_a_resume_finishes_it(tmp_path, monkeypatch, capsys):
    from seqpipe.train import fit

    def fills_the_disk(history, path):
        raise full_disk(path)

    with monkeypatch.context() as patch:
        patch.setattr(fit, "plot_history", fills_the_disk)
        write(tmp_path, epochs=1)
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        assert main(["run", "p.yaml", "--no-progress", "--no-cache"]) == 2
    err = capsys.readouterr().err
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert f"no space left on device while writing {run_dir / 'plots'}: " in err and "Traceback" not in err
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    assert client(tmp_path).get_run(run_id).info.status == "FAILED"
    assert main(["run", "p.yaml", "--no-progress", "--no-cache", "--resume", str(run_dir)]) == 0
    assert "training is complete in the checkpoint" in (run_dir / "run.log").read_text()
    assert client(tmp_path).get_run(run_id).info.status == "FINISHED"
