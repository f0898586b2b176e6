"""``seqpipe compare --paired-bs / --paired-ar``: paired tests from a real sqlite MLflow store and logged artifacts."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from seqpipe.cli import main
from seqpipe.metrics.resampling import split_fingerprint

WORDS = "the a cat dog sat ran on in mat park house big small red".split()


def _log(client, experiment, name, task, metrics, file, table, tags=None, folder=None):
    run = client.create_run(experiment, run_name=name, tags={"task": task, **(tags or {})})
    run_id = run.info.run_id
    client.log_batch(run_id, metrics=[__import__("mlflow").entities.Metric(k, v, 0, 0) for k, v in metrics.items()])
    path = folder / run_id / file
    path.parent.mkdir(parents=True)
    table.to_csv(path, sep="\t" if file.endswith(".tsv") else ",", index=False)
    client.log_artifact(run_id, str(path), "evaluation")
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _tags(table, columns):
    return {"seqpipe.test_set.sha256": split_fingerprint(table, columns), "seqpipe.test_set.examples": str(len(table))}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Three translation runs on one test set (best, worse, worse still), classification runs (one identical to the
    best, one worse, one on a bigger test set, one with 12 other labels, one without tags or artifact)."""
    from mlflow import MlflowClient

    from seqpipe.metrics import METRICS

    root = tmp_path_factory.mktemp("significance")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    rng = np.random.default_rng(5)
    refs = [" ".join(rng.choice(WORDS, 8)) for _ in range(150)]
    sources = [f"source {i}" for i in range(len(refs))]

    def noisy(p):
        return [" ".join(w if rng.random() > p else str(rng.choice(WORDS)) for w in r.split()) for r in refs]

    ids, hyps = {}, {}
    mt = client.create_experiment("mt", artifact_location=(root / "mt-artifacts").as_uri())
    for name, p in (("mt-worse", 0.35), ("mt-best", 0.2), ("mt-worst", 0.4)):
        hyps[name] = noisy(p)
        table = pd.DataFrame({"source": sources, "reference": refs, "hypothesis": hyps[name],
                              "score": -1.0, "nbest_2": "ignored", "bleu": 0.0})  # columns compare does not read
        metrics = {f"test_{m}": METRICS.get(m)(hyps[name], refs) for m in ("bleu", "chrf", "ter")}
        ids[name] = _log(client, mt, name, "translation", metrics, "test_translations.tsv", table,
                         _tags(table, ["source", "reference"]), root)
    y = rng.choice(["neg", "pos"], 200)
    cls = client.create_experiment("cls", artifact_location=(root / "cls-artifacts").as_uri())

    def labels(name, truth, accuracy, tags=True, log=True):
        pred = np.where(np.random.default_rng(9).random(len(truth)) < accuracy, truth,
                        np.where(truth == "neg", "pos", "neg"))
        table = pd.DataFrame({"text": [f"text {i}" for i in range(len(truth))], "label": truth, "predicted": pred,
                              "p_neg": 0.5, "p_pos": 0.5})
        ids_true, ids_pred = (truth == "pos").astype(int), (pred == "pos").astype(int)
        metrics = {"test_accuracy": METRICS.get("accuracy")(ids_true, ids_pred, 2),
                   "test_macro_f1": METRICS.get("macro_f1")(ids_true, ids_pred, 2)}
        ids[name] = _log(client, cls, name, "classification", metrics, "test_predictions.csv", table,
                         _tags(table, ["text", "label"]) if tags else None, root) if log else None
        return table

    labels("cls-best", y, 0.9)
    labels("cls-same", y, 0.9)
    labels("cls-worse", y, 0.7)
    labels("cls-bigger", rng.choice(["neg", "pos"], 230), 0.9)
    other = y.copy()
    other[:12] = np.where(other[:12] == "neg", "pos", "neg")
    labels("cls-other-labels", other, 0.9, tags=False)
    run = client.create_run(cls, run_name="no-artifact", tags={"task": "classification"})
    client.log_batch(run.info.run_id, metrics=[__import__("mlflow").entities.Metric("test_accuracy", 0.5, 0, 0)])
    ids["no-artifact"] = run.info.run_id
    return uri, ids, refs, hyps


def compare(capsys, uri, *argv):
    code = main(["compare", *argv, "--tracking-uri", uri])
    out, err = capsys.readouterr()
    return code, out, err


def test_bleu_and_chrf_p_values_and_intervals_equal_sacrebleu_on_the_same_files(store, capsys):
    from sacrebleu.metrics import BLEU, CHRF, TER
    from sacrebleu.significance import PairedTest

    uri, ids, refs, hyps = store
    code, out, err = compare(capsys, uri, ids["mt-worse"], ids["mt-best"], ids["mt-worst"], "--paired-bs",
                             "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["mt-best", "mt-worse", "mt-worst"]  # ranked by test_bleu; the best is baseline
    assert "paired bootstrap resampling (1000 samples, seed 12345)" in err and ids["mt-best"][:8] in err
    named = [(name, hyps[name]) for name in ("mt-best", "mt-worse", "mt-worst")]
    for key, scorer in (("test_bleu", BLEU), ("test_chrf", CHRF), ("test_ter", TER)):
        _, scores = PairedTest(named, {"m": scorer(references=[refs])}, references=None, test_type="bs")()
        results = next(v for k, v in scores.items() if k != "System")
        for row, result in zip(rows, results):
            assert row[key] == pytest.approx(result.score)
            assert row[f"{key}_mean"] == pytest.approx(result.mean)
            assert row[f"{key}_ci"] == pytest.approx(result.ci)
            assert row[f"{key}_p"] == (pytest.approx(result.p_value) if result.p_value is not None else None)
    assert rows[2]["test_bleu_p"] < 0.05


def test_the_sacrebleu_command_line_gives_the_same_numbers(store, capsys, tmp_path):
    import subprocess
    import sys

    uri, ids, refs, hyps = store
    for name in ("ref", "mt-best", "mt-worse"):
        (tmp_path / name).write_text("\n".join(refs if name == "ref" else hyps[name]) + "\n", encoding="utf-8")
    cli = subprocess.run([sys.executable, "-m", "sacrebleu", str(tmp_path / "ref"), "-i", str(tmp_path / "mt-best"),
                          str(tmp_path / "mt-worse"), "--paired-bs", "-m", "bleu", "-f", "json"],
                         capture_output=True, text=True, check=True, cwd=tmp_path)
    reported = json.loads(cli.stdout)
    code, out, _ = compare(capsys, uri, ids["mt-best"], ids["mt-worse"], "--paired-bs", "--format", "csv")
    table = pd.read_csv(io.StringIO(out))
    for row, system in zip(table.itertuples(), reported):  # the baseline first in both
        bleu = system["BLEU"]
        assert (row.test_bleu, row.test_bleu_mean, row.test_bleu_ci) == pytest.approx(
            (bleu["score"], bleu["mean"], bleu["ci"]))
    assert table["test_bleu_p"].iloc[1] == pytest.approx(reported[1]["BLEU"]["p_value"])
    assert reported[0]["system"].endswith("mt-best")


def test_every_format_shows_the_columns_and_a_baseline_can_be_named(store, capsys):
    uri, ids, _, _ = store
    runs = [ids["mt-best"], ids["mt-worse"]]
    for fmt in ("table", "markdown", "csv", "json"):
        code, out, _ = compare(capsys, uri, *runs, "--paired-bs", "--format", fmt)
        assert code == 0 and "test_bleu_ci" in out and "test_chrf_p" in out, fmt
    code, out, err = compare(capsys, uri, *runs, "--paired-bs", "--baseline", ids["mt-worse"][:8], "--format", "json")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["mt-best", "mt-worse"] and rows[1]["test_bleu_p"] is None
    assert rows[0]["test_bleu_p"] < 0.05 and f"baseline {ids['mt-worse'][:8]}" in err
    code, out, _ = compare(capsys, uri, *runs, "--paired-ar", "--format", "json")
    rows = json.loads(out)
    assert "test_bleu_ci" not in rows[0] and rows[1]["test_bleu_p"] < 0.05


def test_label_metrics_identical_system_large_p_worse_system_small_p(store, capsys):
    uri, ids, _, _ = store
    code, out, err = compare(capsys, uri, ids["cls-best"], ids["cls-same"], ids["cls-worse"], "--paired-bs",
                             "--format", "json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["cls-same"]["test_accuracy_p"] == 1.0 and rows["cls-same"]["test_macro_f1_p"] == 1.0
    assert rows["cls-worse"]["test_accuracy_p"] < 0.01
    assert rows["cls-worse"]["test_accuracy_mean"] == pytest.approx(rows["cls-worse"]["test_accuracy"], abs=0.01)
    code, again, _ = compare(capsys, uri, ids["cls-best"], ids["cls-same"], ids["cls-worse"], "--paired-bs",
                             "--format", "json")
    assert again == out  # the seed makes it reproducible


def test_runs_on_different_test_sets_are_refused_with_one_line(store, capsys):
    uri, ids, _, _ = store
    code, out, err = compare(capsys, uri, ids["cls-best"], ids["cls-bigger"], "--paired-bs")
    assert code == 2 and out == ""
    assert err.strip() == (f"compare: runs {ids['cls-bigger'][:8]} and {ids['cls-best'][:8]} were scored on different "
                           "test sets: 230 vs 200 examples")
    code, _, err = compare(capsys, uri, ids["cls-best"], ids["cls-other-labels"], "--paired-bs")
    assert code == 2 and err.strip().endswith("same size but 12 references differ") and len(err.splitlines()) == 1
    code, _, err = compare(capsys, uri, ids["cls-best"], ids["mt-best"], "--paired-bs")
    assert code == 2 and "were scored on different test sets: task" in err
    code, _, err = compare(capsys, uri, ids["cls-best"], ids["no-artifact"], "--paired-bs")
    assert code == 2 and "has no artifact evaluation/test_predictions.csv" in err
    code, out, err = compare(capsys, uri, ids["cls-best"], ids["cls-bigger"])  # no test: shown, with a note
    assert code == 0 and "were scored on different test sets" in err and "not comparable" in err


def test_the_evaluate_stage_logs_an_interval_around_the_main_metric_and_the_test_set_tags():
    from seqpipe.metrics import METRICS
    from seqpipe.stages.evaluate import log_test_set
    from seqpipe.tasks import get_task

    rng = np.random.default_rng(1)
    truth = rng.choice(["a", "b", "c"], 300)
    pred = np.where(rng.random(300) < 0.8, truth, "a")
    table = pd.DataFrame({"text": [f"t{i}" for i in range(300)], "label": truth, "predicted": pred,
                          **{f"p_{c}": 1 / 3 for c in "abc"}})
    logged = {"metrics": {}, "tags": {}}
    ctx = SimpleNamespace(task=get_task("classification"), add_metrics=logged["metrics"].update,
                          tracker=SimpleNamespace(set_tags=logged["tags"].update))
    log_test_set(ctx, SimpleNamespace(metrics=["macro_f1"]), "test", table)
    ids = {c: i for i, c in enumerate("abc")}
    value = METRICS.get("macro_f1")(table["label"].map(ids), table["predicted"].map(ids), 3)
    assert logged["metrics"]["test_macro_f1_ci_low"] < value < logged["metrics"]["test_macro_f1_ci_high"]
    assert logged["tags"]["seqpipe.test_set.examples"] == "300"
    assert logged["tags"]["seqpipe.test_set.sha256"] == split_fingerprint(table, ["text", "label"])
    for name, metrics, frame in (("language_model", None, pd.DataFrame({"text": ["a b", "c"], "log_prob": [-3.0, -1.0],
                                                                         "num_tokens": [2, 1]})),
                                 ("tagging", None, pd.DataFrame({"tokens": ["x y", "z"], "tags": ["A B", "C"],
                                                                 "predicted": ["A A", "C"], "errors": [1, 0],
                                                                 "scored": [2, 1]})),
                                 ("regression", None, pd.DataFrame({"text": ["a", "b"], "target": [1.0, 2.0],
                                                                    "prediction": [1.5, 2.0]}))):
        logged["metrics"].clear()
        log_test_set(SimpleNamespace(task=get_task(name), add_metrics=logged["metrics"].update,
                                     tracker=SimpleNamespace(set_tags=logged["tags"].update)),
                     SimpleNamespace(metrics=metrics), "test", frame)
        metric = get_task(name).main_metric(metrics)
        low, high = logged["metrics"][f"test_{metric}_ci_low"], logged["metrics"][f"test_{metric}_ci_high"]
        assert low <= get_task(name).resampler(frame, metric).value() <= high, name
