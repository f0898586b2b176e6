"""The regression task: text in, a number out. It learns, scores, serves, and refuses bad targets in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from seqpipe.errors import ConfigError, DataError


def write_counts(path, rows=240, seed=0, bad=None):
    """``text<TAB>target``: a tenth of the number of "up" words among some "flat" ones; ``bad``: {row: value}."""
    rng = np.random.default_rng(seed)
    lines = ["text\ttarget"]
    for i in range(rows):
        ups = int(rng.integers(0, 8))
        words = ["up"] * ups + ["flat"] * int(rng.integers(1, 6))
        rng.shuffle(words)
        lines.append(f"{' '.join(words)}\t{(bad or {}).get(i + 1, ups / 10)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def pipeline(**train):
    return {
        "name": "counts", "task": "regression", "seed": 3, "tracking": {"backend": "none"},
        "data": {"source": {"path": "counts.tsv"}, "split": {"valid": 0.15, "test": 0.2}},
        "stages": [{"tokenize": {"kind": "whitespace", "max_length": 20}}, {"embed": {"kind": "one_hot"}},
                   {"encode": {"cell": "gru", "units": 8}}, {"regress": {}},
                   {"train": {"epochs": 25, "batch_size": 32, "optimizer": {"learning_rate": 0.01},
                              "monitor": "val_mae", **train}},
                   {"evaluate": {"metrics": ["mse", "mae", "r2"], "splits": ["valid", "test"]}},
                   {"export": {"keras": True, "log_model": False}}],
    }


SERVE = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["serving_default"](text=tf.constant(json.loads(sys.stdin.read())))
print(json.dumps({"value": out["value"].numpy().tolist(), "dtype": out["value"].dtype.name}))
"""


@pytest.fixture(scope="module")
def count_run(tmp_path_factory):
    import os

    import seqpipe

    folder = tmp_path_factory.mktemp("regression")
    write_counts(folder / "counts.tsv")
    here = os.getcwd()
    os.chdir(folder)
    try:
        result = seqpipe.run(pipeline(), base_dir=folder, progress=False)
    finally:
        os.chdir(here)
    return result


def test_it_learns_a_count_far_below_the_mean_baseline(count_run):
    metrics = count_run.metrics
    assert count_run.status == "FINISHED"
    for split in ("valid", "test"):
        assert metrics[f"{split}_mse"] < 0.1 * metrics[f"{split}_mse_of_the_mean"], metrics
        assert metrics[f"{split}_r2"] > 0.9
        assert metrics[f"{split}_mae"] < 0.1
    table = pd.read_csv(count_run.run_dir / "evaluation" / "test_predictions.csv")
    assert list(table.columns) == ["text", "target", "prediction"]
    assert len(table) == 48  # 20% of 240
    assert metrics["test_mse"] == pytest.approx(float(np.mean((table["prediction"] - table["target"]) ** 2)))
    assert metrics["test_mse_of_the_mean"] > 0.03  # the targets spread over 0 .. 0.7
    history = pd.read_csv(count_run.run_dir / "history.csv")
    assert list(history.columns) == ["epoch", "loss", "mae", "val_loss", "val_mae"]


def test_the_saved_model_in_a_fresh_process_serves_the_pipelines_predictions(count_run):
    table = pd.read_csv(count_run.run_dir / "evaluation" / "test_predictions.csv")
    proc = subprocess.run([sys.executable, "-c", SERVE, str(count_run.export_path)],
                          input=json.dumps(table["text"].tolist()), capture_output=True, text=True, timeout=300,
                          cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    assert served["dtype"] == "float32"
    np.testing.assert_allclose(served["value"], table["prediction"], atol=1e-5)
    meta = json.loads((count_run.export_path / "seqpipe.json").read_text())
    assert meta["task"] == "regression" and meta["signature"] == "serving_default"


def test_predict_table_and_the_keras_model(count_run):
    from seqpipe.predict import predict_table
    from seqpipe.saving import load_model

    texts = ["up up flat", "flat", "up up up up up flat flat"]
    table = predict_table(count_run.export_path, texts)
    assert list(table.columns) == ["text", "value", "known_tokens"]
    assert table["value"].to_numpy() == pytest.approx([0.2, 0.0, 0.5], abs=0.1)
    model = load_model(count_run.export_path.parent / "model.keras")  # one-hot layer and rescaling round-trip
    vocab = (count_run.run_dir / "vocab.txt").read_text().splitlines()
    ids = np.array([[vocab.index("up"), vocab.index("up"), vocab.index("flat")]], "int32")
    assert float(model(ids)[0, 0]) == pytest.approx(table["value"].iloc[0], abs=1e-5)


def test_bad_targets_are_one_line_data_errors_naming_file_and_rows(tmp_path, monkeypatch):
    import seqpipe

    write_counts(tmp_path / "counts.tsv", bad={4: "abc", 9: "1,5", 30: "nan"})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as info:
        seqpipe.run(pipeline(), base_dir=tmp_path, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert message == (f"{tmp_path / 'counts.tsv'} rows 5, 10 and 31: a value in column 'target' is not a number; "
                       "expected a finite number such as 0.25 or -3e2 (data.on_error: skip drops such rows)")


def test_one_bad_target_is_named_and_skip_drops_it(tmp_path):
    from seqpipe.data import load_data
    from seqpipe.data.checks import DataReport, origin
    from seqpipe.data.config import DataConfig
    from seqpipe.tasks import get_task

    write_counts(tmp_path / "counts.tsv", bad={7: "inf"})
    task = get_task("regression")
    cfg = DataConfig(source={"path": "counts.tsv"})
    splits, report = load_data(cfg, roles=list(task.roles), seed=1, base_dir=tmp_path)
    with pytest.raises(DataError, match=r"counts.tsv row 8: 'inf' in column 'target' is not a number; expected a "
                                        r"finite number such as 0.25 or -3e2 \(data.on_error: skip drops such rows\)$"):
        task.check_data(splits, cfg, report)
    skipped = DataReport()
    kept = task.check_data(splits, DataConfig(source={"path": "counts.tsv"}, on_error="skip"), skipped)
    assert skipped.total == 1 and "row 8" in skipped.examples[0]
    assert sum(len(frame) for frame in kept.values()) == 239
    assert all(frame["target"].dtype == "float64" for frame in kept.values())
    assert all(8 not in origin(frame).numbers for frame in kept.values())  # they still know their rows


def test_validation_knows_the_task(tmp_path):
    from seqpipe.api import load

    config, _, _ = load(pipeline(), base_dir=tmp_path)
    assert config.stage("regress").pooling == "last" and config.stage("tokenize").kind == "whitespace"
    bad = pipeline(monitor="val_accuracy")
    bad["stages"][2] = {"encode": {"cell": "gru", "units": 8, "bidirectional": True, "merge_mode": "sum"}}
    bad["stages"][5] = {"evaluate": {"metrics": ["mse", "accuracy"]}}
    with pytest.raises(ConfigError) as info:
        load(bad, base_dir=tmp_path)
    assert info.value.problems == [
        "<dict>: stages[5].evaluate.metrics[1]: 'accuracy' scores labels, not what task 'regression' predicts; "
        "metrics for regression: mae, mse, r2",
        "<dict>: stages[4].train.monitor: must be one of loss, mae, val_loss, val_mae; got 'val_accuracy'",
        "<dict>: stages[3].regress.pooling: 'last' over a bidirectional encoder needs stages.encode.merge_mode "
        "'concat'; got 'sum'",
    ]


def test_number_scores_agree_with_sklearn():
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    from seqpipe.metrics import METRICS, metric_names

    assert metric_names("numbers") == ["mae", "mse", "r2"]
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=50), rng.normal(size=50)
    assert METRICS.get("mse")(y, p) == pytest.approx(mean_squared_error(y, p))
    assert METRICS.get("mae")(y, p) == pytest.approx(mean_absolute_error(y, p))
    assert METRICS.get("r2")(y, p) == pytest.approx(r2_score(y, p))
    assert METRICS.get("r2")([1.0, 1.0], [1.0, 1.0]) == 1.0 and METRICS.get("r2")([1.0, 1.0], [1.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match="2 true values but 3 predictions"):
        METRICS.get("mse")([1, 2], [1, 2, 3])


ONE_HOT = {"name": "x", "task": "regression", "data": {"source": {"path": "x.tsv"}},
           "stages": ["tokenize", {"embed": {"kind": "one_hot"}}, "encode", "regress", "train"]}


def test_a_one_hot_model_is_as_wide_as_the_vocabulary(tmp_path, monkeypatch):
    import seqpipe
    write_counts(tmp_path / "x.tsv", rows=60)
    monkeypatch.chdir(tmp_path)
    result = seqpipe.run({**ONE_HOT, "tracking": {"backend": "none"},
                          "stages": [{"tokenize": {"kind": "whitespace"}}, {"embed": {"kind": "one_hot"}},
                                     {"encode": {"units": 3}}, "regress", {"train": {"epochs": 1}}]},
                         base_dir=tmp_path, progress=False)
    vocabulary = (result.run_dir / "vocab.txt").read_text().splitlines()
    assert len(vocabulary) == 6  # [PAD] [UNK] [START] [END] up flat
    log = (result.run_dir / "run.log").read_text()
    # LSTM(3) over 6 one-hot inputs: 4 * 3 * (6 + 3 + 1) = 120 weights, plus the output layer's 3 + 1
    assert "model: 124 parameters" in log
