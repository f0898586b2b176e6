"""Stage caching: a rerun that changes only downstream settings reuses the vocabulary and the trained model."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from seqpipe.cli import main

PIPELINE = """\
name: cached
task: classification
seed: 3
data: {source: {path: data.tsv}, split: {valid: 0.2, test: 0.2}}
stages:
  - tokenize: {vocab_size: 60}
  - embed: {dim: 8}
  - encode: {cell: gru, units: 8}
  - classify: {}
  - train: {epochs: 3, batch_size: 16}
  - evaluate: {metrics: [accuracy]}
  - export: {keras: false, log_model: false}
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    rows = ["text\tlabel"] + [f"this {('good', 'bad')[i % 2]} film {i % 13}\t{('pos', 'neg')[i % 2]}"
                              for i in range(200)]
    (tmp_path / "data.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text(PIPELINE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEQPIPE_STAGE_CACHE", str(tmp_path / "stage-cache"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def runs(workdir: Path) -> list:
    client = mlflow.MlflowClient(f"sqlite:///{(workdir / 'mlflow.db').as_posix()}")
    experiment = client.get_experiment_by_name("cached").experiment_id
    return client, sorted(client.search_runs([experiment]), key=lambda r: r.info.start_time)


def test_changing_only_evaluation_settings_reuses_tokenize_and_train(workdir, capsys):
    assert main(["run", "p.yaml", "--no-progress"]) == 0
    assert main(["run", "p.yaml", "--no-progress", "-o", "evaluate.metrics=[accuracy, macro_f1]"]) == 0
    client, (first, second) = runs(workdir)
    assert first.data.tags["seqpipe.cache"] == "tokenize: computed, train: computed"
    assert second.data.tags["seqpipe.cache"] == (f"tokenize: hit (run {first.info.run_id}), "
                                                 f"train: hit (run {first.info.run_id})")
    assert second.data.metrics["test_accuracy"] == first.data.metrics["test_accuracy"]  # the same trained weights
    assert "test_macro_f1" in second.data.metrics and "test_macro_f1" not in first.data.metrics
    log = Path(second.data.tags["seqpipe.run_dir"], "run.log").read_text()
    assert "stage train: cache hit" in log and "training is complete in the checkpoint (3 epochs)" in log
    # the reused run still has its curves and vocabulary
    assert [m.step for m in client.get_metric_history(second.info.run_id, "val_loss")] == [0, 1, 2]
    assert (Path(second.data.tags["seqpipe.run_dir"]) / "vocab.txt").read_text() == \
        (Path(first.data.tags["seqpipe.run_dir"]) / "vocab.txt").read_text()


def test_upstream_changes_no_cache_and_broken_entries_recompute(workdir, capsys):
    assert main(["run", "p.yaml", "--no-progress"]) == 0
    assert main(["run", "p.yaml", "--no-progress", "-o", "train.epochs=2"]) == 0  # train changed: retrained
    assert main(["run", "p.yaml", "--no-progress", "--no-cache"]) == 0
    for entry in (workdir / "stage-cache" / "train").glob("*/checkpoints/last.json"):
        entry.write_text("{broken")  # a damaged entry is recomputed, never fatal
    assert main(["run", "p.yaml", "--no-progress"]) == 0
    _, (first, epochs2, uncached, repaired) = runs(workdir)
    assert epochs2.data.tags["seqpipe.cache"] == f"tokenize: hit (run {first.info.run_id}), train: computed"
    assert "seqpipe.cache" not in uncached.data.tags
    assert repaired.data.tags["seqpipe.cache"].endswith("train: computed")
    log = Path(repaired.data.tags["seqpipe.run_dir"], "run.log").read_text()
    assert "could not be used" in log
    assert repaired.data.metrics["test_accuracy"] == first.data.metrics["test_accuracy"]  # deterministic retraining
    entries = [path.read_text() for path in (workdir / "stage-cache" / "train").glob("*/checkpoints/last.json")]
    assert sorted(text == "{broken" for text in entries) == [False, True]  # the epochs=2 entry is still damaged
    assert json.loads(next(text for text in entries if text != "{broken"))["completed"] is True
