"""Scoring the copy / reverse problems: ``evaluate.ignore_tags`` leaves the blanks out of the token-level scores,
and the training-time token_accuracy follows it (``train.ignore_tags``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seqpipe.errors import ConfigError

COPY = {"name": "copy", "task": "tagging", "seed": 2, "tracking": {"backend": "none"},
        "data": {"source": {"recipe": "copy", "options": {"symbols": 3, "alphabet": 4, "delay": 4, "examples": 300}},
                 "split": {"valid": 0.2, "test": 0.2}},
        "stages": [{"tokenize": {"kind": "whitespace", "lowercase": False}}, {"embed": {"kind": "one_hot"}},
                   {"encode": {"cell": "gru", "units": 6}}, "tag",
                   {"train": {"epochs": 2, "batch_size": 16, "optimizer": {"learning_rate": 0.01},
                              "monitor": "val_token_accuracy"}},
                   {"evaluate": {"ignore_tags": ["_"], "splits": ["valid", "test"]}}]}


def test_tag_accuracy_leaves_out_the_ignored_tag_ids():
    import keras

    from seqpipe.tasks.tagging.losses import TagAccuracy, ignored_tag_ids, tag_accuracy

    y = np.array([[1, 1, 2, 3, 0], [1, 3, 3, 0, 0]], "int32")  # tag i is i + 1; 0 is padding; tag "_" is id 1
    predicted = np.array([[0, 0, 1, 0, 0], [1, 2, 1, 0, 0]])  # best tag per token (0-based)
    scores = np.eye(3, dtype="float32")[predicted]
    assert float(tag_accuracy(y, scores)) == pytest.approx(4 / 7)  # every real token
    assert float(tag_accuracy(y, scores, [1])) == pytest.approx(2 / 4)  # the four tokens not tagged "_"
    metric = TagAccuracy(ignore_ids=[1])
    metric.update_state(y[:1], scores[:1])
    metric.update_state(y[1:], scores[1:])
    assert float(metric.result()) == pytest.approx(2 / 4)
    again = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert again.ignore_ids == (1,) and again.name == "token_accuracy"
    assert ignored_tag_ids(["_", "s0", "s1"], ["_", "x", "_"]) == [1]


def test_train_ignore_tags_follows_evaluate_unless_set(tmp_path):
    from seqpipe.api import load

    config, _, _ = load(COPY, base_dir=tmp_path)
    assert config.stage("train").ignore_tags == ["_"] and config.stage("evaluate").ignore_tags == ["_"]
    config, _, _ = load(COPY, ["train.ignore_tags=[]"], base_dir=tmp_path)
    assert config.stage("train").ignore_tags == []
    config, _, _ = load({**COPY, "stages": COPY["stages"][:5]}, base_dir=tmp_path)
    assert config.stage("train").ignore_tags == []


def test_ignore_tags_belongs_to_the_tagging_task(tmp_path):
    from seqpipe.api import load

    pipeline = {"name": "x", "task": "regression", "data": {"source": {"path": "x.tsv"}},
                "stages": ["tokenize", "embed", "encode", "regress", "train", {"evaluate": {"ignore_tags": ["_"]}}]}
    with pytest.raises(ConfigError) as info:
        load(pipeline, base_dir=tmp_path)
    assert info.value.problems == ["<dict>: stages[5].evaluate.ignore_tags: 'ignore_tags' is a key of task tagging; "
                                   "task 'regression' does not read it; remove it"]


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory):
    import os

    import seqpipe

    folder = tmp_path_factory.mktemp("copy")
    here, cache = os.getcwd(), os.environ.get("SEQPIPE_CACHE")
    os.chdir(folder)
    os.environ["SEQPIPE_CACHE"] = str(folder / "cache")
    try:
        return seqpipe.run(COPY, base_dir=folder, progress=False)
    finally:
        os.chdir(here)
        if cache is None:
            os.environ.pop("SEQPIPE_CACHE")
        else:
            os.environ["SEQPIPE_CACHE"] = cache


def tags_file(run, split):
    return pd.read_csv(run.run_dir / "evaluation" / f"{split}_tags.tsv", sep="\t", dtype=str, keep_default_na=False)


def test_token_accuracy_is_the_accuracy_on_the_recall_steps(copy_run):
    table = tags_file(copy_run, "test")
    gold = [t.split() for t in table["tags"]]
    pred = [p.split() for p in table["predicted"]]
    recall = [(g, p) for gs, ps in zip(gold, pred) for g, p in zip(gs, ps) if g != "_"]
    assert len(recall) == 3 * len(table)  # the last K steps of each sequence
    right = sum(g == p for g, p in recall)
    assert copy_run.metrics["test_token_accuracy"] == pytest.approx(right / len(recall))
    assert table["errors"].astype(int).sum() == len(recall) - right  # wrong recalls only
    report = pd.read_csv(copy_run.run_dir / "evaluation" / "test_tag_report.csv", index_col=0)
    assert "_" not in report.index and report.loc["micro avg", "support"] == len(recall)
    assert report.loc["micro avg", "recall"] == pytest.approx(right / len(recall))
    tags = sorted({g for g, _ in recall} | {p for _, p in recall} - {"_"})
    from sklearn.metrics import f1_score

    expected = f1_score([g for g, _ in recall], [p for _, p in recall], labels=tags, average="macro", zero_division=0)
    assert copy_run.metrics["test_tag_macro_f1"] == pytest.approx(expected)


def test_the_epoch_metric_leaves_the_blanks_out_too(copy_run):
    history = pd.read_csv(copy_run.run_dir / "history.csv")
    best = history["val_token_accuracy"].max()
    # the restored best epoch's validation accuracy is the one evaluate finds on the recall steps
    assert copy_run.metrics["valid_token_accuracy"] == pytest.approx(best, abs=1e-6)
    assert best < 0.9  # blanks counted would give at least 8/11 for a model that only says "_"
