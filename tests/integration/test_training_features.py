"""Better models in the same time: a time budget, token-budget batches, learning-rate schedules, checkpoint averaging.

Tiny classification pipelines run in-process through the CLI, tracked in a local SQLite MLflow store.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest

from seqpipe.cli import main

PIPELINE = """\
name: features
task: classification
seed: 3
runtime: {deterministic: true}
data: {source: {path: data.tsv}, split: {valid: 0.2, test: 0.2}}
stages:
  - tokenize: {vocab_size: 60}
  - embed: {dim: 8, dropout: 0.2}
  - encode: {cell: gru, units: 8, bidirectional: true}
  - classify: {dropout: 0.2}
  - train: TRAIN
  - evaluate: {splits: [valid, test]}
  - export: {log_model: false}
"""


def write(tmp_path: Path, train: str, rows: int = 300) -> None:
    lines = ["text\tlabel"]
    for i in range(rows):
        label = ("good", "bad")[i % 2]
        words = " ".join(f"w{(i * 7 + k) % 23}" for k in range(i % 9))  # lengths 0 to 8 words more
        lines.append(f"this {label} film {words} was {('fine', 'dull', 'long')[i % 3]}\t{label}")
    (tmp_path / "data.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text(PIPELINE.replace("TRAIN", train), encoding="utf-8")


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def run(capsys, *args: str) -> tuple[int, dict | None]:
    code = main(["run", "p.yaml", "--no-progress", "--no-cache", "--json", *args])
    out = capsys.readouterr().out.strip().splitlines()
    return code, (json.loads(out[-1]) if out and out[-1].startswith("{") else None)


def client(tmp_path: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}")


def test_a_time_budget_stops_mid_epoch_then_the_run_evaluates_exports_and_finishes(here, capsys):
    # 1,200 training examples one per batch: an epoch takes well over the 3 seconds of max_minutes 0.05
    write(here, "{epochs: 40, batch_size: 1, max_minutes: 0.05, checkpoint_every: 200}", rows=2000)
    code, result = run(capsys)
    assert code == 0 and result["status"] == "FINISHED"
    run_dir = Path(result["run_dir"])
    state = json.loads((run_dir / "checkpoints" / "last.json").read_text())
    assert state["completed"] and state["stopped_by"] == "max_minutes"
    assert state["epoch"] == 1 and 0 < state["last_epoch_batches"] < state["steps_per_epoch"] == 1200  # mid-epoch
    assert 3.0 <= state["train_seconds"] < 3.0 + 60  # stopped after the batch that spent the budget
    assert len(state["history"]["val_accuracy"]) == 1  # the short epoch was validated and logged
    assert {"valid_accuracy", "test_accuracy"} <= set(result["metrics"])  # evaluated
    assert (Path(result["export_path"]) / "saved_model.pb").is_file() and (run_dir / "export" / "model.keras").is_file()
    tracked = client(here).get_run(result["run_id"])
    assert tracked.info.status == "FINISHED"
    assert tracked.data.tags["seqpipe.stopped_by"] == "max_minutes"
    assert tracked.data.tags["seqpipe.stopped_at"] == f"epoch 1, step {state['last_epoch_batches']} of 1200"
    assert tracked.data.metrics["train_minutes"] == pytest.approx(state["train_seconds"] / 60)
    assert "training stopped by train.max_minutes (0.05) at epoch 1, step" in (run_dir / "run.log").read_text()

    # the same budget again: --resume has nothing to train, and the run ends as it did
    code, again = run(capsys, "--resume", str(run_dir))
    assert code == 0 and again["metrics"] == result["metrics"] and again["run_id"] == result["run_id"]
    assert json.loads((run_dir / "checkpoints" / "last.json").read_text())["history"] == state["history"]
    log = (run_dir / "run.log").read_text()
    assert "training is complete in the checkpoint (1 epochs): nothing to fit (stopped by max_minutes)" in log


FEATURES = ("{epochs: 4, batch_tokens: 120, average_last: 2, restore_best: false, checkpoint_every: 4, "
            "optimizer: {learning_rate: 0.01, schedule: {kind: warmup_cosine, warmup_steps: 6, min_lr: 0.1}}}")


def test_schedule_token_batches_and_averaging_resume_exactly_and_the_export_is_the_average(here, capsys, monkeypatch):
    from seqpipe.pipeline import signals
    from seqpipe.saving import load_model
    from seqpipe.train.averaging import averaged_variables, load_arrays
    from seqpipe.train.checkpoints import Checkpointer

    write(here, FEATURES)
    code, whole = run(capsys)
    assert code == 0
    run_dir = Path(whole["run_dir"])
    log = (run_dir / "run.log").read_text()
    assert "token-budget batches: at most 120 padded tokens each" in log
    assert "averaged the weights of epochs 3, 4 (the last 2)" in log
    history = (run_dir / "history.csv").read_text().splitlines()
    assert "learning_rate" in history[0] and len(history) == 5
    rates = [float(row.split(",")[history[0].split(",").index("learning_rate")]) for row in history[1:]]
    assert rates == sorted(rates, reverse=True) and rates[-1] == pytest.approx(0.001)  # cosine to 0.1 x 0.01
    # the exported training model holds the element-wise mean of the kept epochs' weights
    files = sorted((run_dir / "checkpoints" / "epochs").glob("epoch_*.npz"))
    assert [f.name for f in files] == ["epoch_0003.npz", "epoch_0004.npz"]
    saved = [load_arrays(f) for f in files]
    exported = [np.asarray(w) for w in averaged_variables(load_model(run_dir / "export" / "model.keras"))]
    assert len(exported) == len(saved[0])
    for got, a, b in zip(exported, *saved):
        np.testing.assert_allclose(got, (a.astype(np.float64) + b) / 2, rtol=1e-6, atol=1e-7)
    tracked = client(here).get_run(whole["run_id"])
    assert tracked.data.tags["seqpipe.averaged_epochs"] == "3,4" and "averaged_val_loss" in tracked.data.metrics

    # the same pipeline stopped mid-epoch 3 (as SIGTERM does), then resumed: the same metrics, bit for bit
    original = Checkpointer.on_train_batch_end

    def stop(self, batch, logs=None):
        if self.epoch == 2 and self.batch == 5:
            signals._state["requested"] = "SIGTERM"
        return original(self, batch, logs)

    monkeypatch.setattr(Checkpointer, "on_train_batch_end", stop)
    code, _ = run(capsys)
    assert code == 130
    monkeypatch.setattr(Checkpointer, "on_train_batch_end", original)
    (cut,) = [d for d in (here / "runs").iterdir() if d != run_dir]
    assert json.loads((cut / "checkpoints" / "last.json").read_text())["batch"] == 6
    code, resumed = run(capsys, "--resume", str(cut))
    assert code == 0 and resumed["metrics"] == whole["metrics"]


TAGGING = """\
name: tagging-tokens
task: tagging
seed: 2
data: {source: {path: tags.jsonl}, split: {valid: 0.2, test: 0.2}}
stages:
  - tokenize: {}
  - embed: {dim: 6, chars: {dim: 4, units: 3}}
  - encode: {units: 6, bidirectional: true}
  - tag: {}
  - train: {epochs: 2, batch_tokens: 24, optimizer: {learning_rate: 0.01, schedule: {kind: warmup_inverse_sqrt,
            warmup_steps: 3}}}
  - evaluate: {}
  - export: {keras: false, log_model: false}
"""


def test_tagging_batches_by_words_under_the_budget(here, capsys):
    import random

    rng = random.Random(0)
    words = [f"w{i}" for i in range(12)]
    with open(here / "tags.jsonl", "w") as out:
        for _ in range(150):
            sentence = [rng.choice(words) for _ in range(rng.randint(1, 8))]
            out.write(json.dumps({"tokens": " ".join(sentence),
                                  "tags": " ".join("A" if int(w[1:]) % 2 else "B" for w in sentence)}) + "\n")
    (here / "p.yaml").write_text(TAGGING, encoding="utf-8")
    code, result = run(capsys, "-o", "tracking.backend=none")
    assert code == 0 and "test_token_accuracy" in result["metrics"]
    log = (Path(result["run_dir"]) / "run.log").read_text()
    steps = int(log.split("token-budget batches: at most 24 padded tokens each, ")[1].split(" batches")[0])
    # 90 training sentences of 1 to 8 words: more batches than 90 / 24 rows, fewer than one per sentence
    assert 90 // 24 < steps < 90
    rates = json.loads((Path(result["run_dir"]) / "checkpoints" / "last.json").read_text())["history"]["learning_rate"]
    assert rates[-1] == pytest.approx(0.01 * (3 / (2 * steps)) ** 0.5, rel=1e-4)  # inverse square root of the steps
