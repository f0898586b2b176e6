"""Streamed training input (data.streaming) end to end: a run on TSV shards, SIGKILL mid-epoch (in the first pass,
whose length is not known yet, and later) resumed to the uninterrupted run's test metrics, a bad row in the stream
under fail (one line, file and row, the training so far kept) and skip (counted per file), and the validation rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest

from seqpipe.cli import main

PIPELINE = """\
name: streamed
task: translation
seed: 5
runtime: {deterministic: true}
data:
  source: {train: "train-*.tsv", valid: valid.tsv, test: test.tsv}
  streaming: true
  shuffle_buffer: 64
stages:
  - tokenize: {kind: whitespace, max_length: 12}
  - embed: {dim: 8}
  - encode: {cell: gru, units: 8}
  - decode: {units: 8}
  - train: {epochs: EPOCHS, batch_size: 8, checkpoint_every: 5, validation_subset: 4, optimizer: {learning_rate: 0.01}}
  - generate: {decoding: {strategy: greedy}}
  - evaluate: {metrics: [bleu, chrf]}
  - export: {keras: false, log_model: false}
"""


def pairs(rng, rows: int) -> str:
    seqs = [[str(d) for d in rng.integers(0, 10, int(rng.integers(2, 9)))] for _ in range(rows)]
    return "source\ttarget\n" + "".join(f"{' '.join(s)}\t{' '.join(s[::-1])}\n" for s in seqs)


def write(folder: Path, epochs: int = 4, shards: int = 3, rows: int = 300, **replace) -> Path:
    rng = np.random.default_rng(0)
    for shard in range(shards):
        (folder / f"train-{shard}.tsv").write_text(pairs(rng, rows), encoding="utf-8")
    for name in ("valid", "test"):
        (folder / f"{name}.tsv").write_text(pairs(rng, 30), encoding="utf-8")
    text = PIPELINE.replace("EPOCHS", str(epochs))
    for old, new in replace.items():
        text = text.replace(old, new)
    (folder / "p.yaml").write_text(text, encoding="utf-8")
    return folder / "p.yaml"


def start(cwd: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen([sys.executable, "-m", "seqpipe", "run", "p.yaml", "--no-progress", "--json", "--no-cache",
                             *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def final(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def wait_for(cwd: Path, ready, timeout: float = 240) -> tuple[Path, dict]:
    """The run folder and its checkpoint state once ``ready(state)`` holds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for meta in cwd.glob("runs/*/checkpoints/last.json"):
            try:
                state = json.loads(meta.read_text())
            except ValueError:
                continue  # being replaced
            if ready(state):
                return meta.parents[1], state
        time.sleep(0.05)
    raise AssertionError("no such checkpoint appeared")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("uninterrupted")
    write(cwd)
    result = final(start(cwd))
    log = (Path(result["run_dir"]) / "run.log").read_text()
    return {**result, "log": log}


def test_a_streamed_run_trains_on_the_shards_and_says_so(uninterrupted):
    log = uninterrupted["log"]
    assert "data.streaming: true: streaming the training split" in log
    assert "train: streamed from 3 shard(s)" in log
    assert "vocabulary sample: 900 of 900 training rows" in log
    state = json.loads((Path(uninterrupted["run_dir"]) / "checkpoints" / "last.json").read_text())
    assert state["completed"] and state["epoch"] == 4
    assert state["steps_per_epoch"] > 100  # counted in the first pass
    assert len(state["history"]["loss"]) == 4 and state["history"]["loss"][-1] < state["history"]["loss"][0]
    assert "test_bleu" in uninterrupted["metrics"]


@pytest.mark.parametrize("when", ["first pass", "epoch 3"])
def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_metrics(uninterrupted, tmp_path, when):
    write(tmp_path)
    proc = start(tmp_path)
    if when == "first pass":  # the stream's length is not known yet
        ready = lambda s: s["epoch"] == 0 and s["batch"] >= 10 and s["steps_per_epoch"] is None  # noqa: E731
    else:
        ready = lambda s: s["epoch"] == 2 and s["batch"] >= 10  # noqa: E731
    run_dir, state = wait_for(tmp_path, ready)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    resumed = final(start(tmp_path, "--resume", str(run_dir)))
    assert resumed["metrics"] == uninterrupted["metrics"], state  # bit-identical: the order is (seed, epoch, shards)
    log = (run_dir / "run.log").read_text()
    assert "resuming training at epoch" in log


def test_a_bad_row_in_the_stream_stops_with_its_file_and_row_and_keeps_the_training(tmp_path, monkeypatch, capsys):
    write(tmp_path, epochs=2)
    shard = tmp_path / "train-2.tsv"
    lines = shard.read_text(encoding="utf-8").splitlines()
    lines[250] = "1 2 3\t"  # row 251 of the file: an empty target
    shard.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # the vocabulary sample reads every row first: fail stops there, before anything trains
    assert main(["run", "p.yaml", "--no-progress", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert f"{shard} row 251: empty value" in err and "Traceback" not in err
    # skip drops it and counts it per file
    assert main(["run", "p.yaml", "--no-progress", "--no-cache", "-o", "data.on_error=skip"]) == 0
    client = mlflow.MlflowClient(f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}")
    runs = client.search_runs([client.get_experiment_by_name("streamed").experiment_id],
                              order_by=["attributes.start_time DESC"])
    metrics = runs[0].data.metrics
    assert metrics["data_skipped_rows"] == 1 and metrics["data_skipped_rows.train-2.tsv"] == 1


def test_a_bad_row_met_while_training_keeps_a_checkpoint(tmp_path, monkeypatch, capsys):
    """The vocabulary sample and the length sample see the file as it was; the stream meets the damaged row
    mid-epoch (the file changed under the run): one line with the file and row, the model trained so far kept."""
    from seqpipe.data import batching

    write(tmp_path, epochs=1, rows=1500)
    shard = tmp_path / "train-1.tsv"
    original = batching.stream_epochs

    def prepare_then_damage(*args, **kwargs):
        out = original(*args, **kwargs)
        lines = shard.read_text(encoding="utf-8").splitlines()
        lines[1400] = "a\tb\tc"  # row 1401: three fields, late in the epoch's stream
        shard.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return out

    monkeypatch.setattr(batching, "stream_epochs", prepare_then_damage)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["run", "p.yaml", "--no-progress", "--no-cache", "-o", "data.shuffle_buffer=1",
                 "-o", "train.batch_size=64"]) == 2
    err = capsys.readouterr().err
    assert f"{shard} row 1401: wrong number of fields; expected 2" in err and "Traceback" not in err
    (run_dir,) = (tmp_path / "runs").iterdir()
    state = json.loads((run_dir / "checkpoints" / "last.json").read_text())
    assert state["epoch"] == 0 and state["batch"] > 0  # what was trained before the bad row


def test_streaming_refuses_what_it_cannot_stream(tmp_path, capsys):
    write(tmp_path)
    assert main(["validate", str(tmp_path / "p.yaml"), "-o", "task=classification"]) == 2
    assert main(["validate", str(tmp_path / "p.yaml"), "-o", "data.source.test=null"]) == 2
    assert main(["validate", str(tmp_path / "p.yaml"), "-o", "data.source.limit=10"]) == 2
    err = capsys.readouterr().err
    assert "data.streaming: task 'classification' reads its training split whole; tasks that stream: translation" in err
    assert "cannot stream the training split: data.split would carve test from the training rows" in err
    assert "cannot stream the training split: source.limit samples the whole table" in err


def test_streamed_and_in_memory_runs_on_parallel_gz_shards_build_the_same_vocabulary_and_batches(tmp_path):
    """Line-aligned gzipped shards (train-K.src.gz / train-K.tgt.gz): the stream and the in-memory reader see the
    same rows; with every row in the vocabulary sample and in the length sample, the vocabularies and the number
    of bucketed batches per epoch are the same."""
    import gzip

    rng = np.random.default_rng(1)
    for shard in range(3):
        rows = pairs(rng, 120).splitlines()[1:]
        for side, column in (("src", 0), ("tgt", 1)):
            with gzip.open(tmp_path / f"train-{shard}.{side}.gz", "wt", encoding="utf-8") as handle:
                handle.write("".join(row.split("\t")[column] + "\n" for row in rows))
    write(tmp_path, epochs=1, **{'train: "train-*.tsv"': 'train: {source: "train-*.src.gz", target: "train-*.tgt.gz"}'})
    states, vocabularies = {}, {}
    for streaming in ("true", "false"):
        final(start(tmp_path, "-o", f"data.streaming={streaming}", "-o", f"name=s{streaming}"))
        (run_dir,) = (tmp_path / "runs").glob(f"s{streaming}-*")
        states[streaming] = json.loads((run_dir / "checkpoints" / "last.json").read_text())
        vocabularies[streaming] = [(run_dir / f"{side}_vocab.txt").read_text() for side in ("source", "target")]
        log = (run_dir / "run.log").read_text()
        assert ("streaming the training split" in log) == (streaming == "true")
    assert vocabularies["true"] == vocabularies["false"]
    assert states["true"]["steps_per_epoch"] == states["false"]["steps_per_epoch"] > 0


def test_a_decay_over_the_total_steps_needs_a_budget_when_streaming(tmp_path, capsys):
    write(tmp_path)
    schedule = "train.optimizer={learning_rate: 0.01, schedule: {kind: warmup_cosine}}"
    assert main(["validate", str(tmp_path / "p.yaml"), "-o", schedule]) == 2
    assert "warmup_cosine decays over the training's steps, unknown for a streamed training split" in \
        capsys.readouterr().err
    assert main(["validate", str(tmp_path / "p.yaml"), "-o", schedule, "-o", "train.max_minutes=1"]) == 0
