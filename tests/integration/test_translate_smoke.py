"""End to end: the smoke translation pipeline on a slice of the parallel Bible."""

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import seqpipe

# the parallel Bible comes from Debian's sword packages; meteor_1.5 runs the METEOR 1.5 jar
pytestmark = [pytest.mark.apt, pytest.mark.java]


def translations(run):
    return pd.read_csv(Path(run["result"]["run_dir"]) / "evaluation" / "test_translations.tsv", sep="\t",
                       keep_default_na=False, quoting=3)


def test_run_reports_beam_and_greedy_scores_side_by_side(translate_run):
    metrics = translate_run["result"]["metrics"]
    for name in ("bleu", "chrf", "ter", "meteor", "meteor_1.5"):
        assert f"test_{name}" in metrics and f"test_{name}_greedy" in metrics
    assert 0 <= metrics["test_bleu"] <= 100 and 0 <= metrics["test_meteor"] <= 1
    assert 0 <= metrics["test_meteor_1.5"] <= 1
    table = translations(translate_run)
    assert len(table) == 60  # 5% of 1,200 pairs
    assert list(table.columns[:4]) == ["source", "reference", "hypothesis", "bleu"]
    assert "hypothesis_greedy" in table.columns
    assert [c for c in table.columns if c.startswith("hypothesis")] == ["hypothesis", "hypothesis_greedy"]
    assert list(table.columns[-4:]) == ["nbest_2", "nbest_score_2", "nbest_3", "nbest_score_3"]  # n_best: 3
    assert {"score", "score_greedy"} <= set(table.columns)
    for a, b in (("score", "nbest_score_2"), ("nbest_score_2", "nbest_score_3")):
        assert (table[a] >= table[b]).all()  # best first


def nbest(table):
    """Each row's 3 hypotheses and their scores, best first, as the pipeline's Generator decoded them."""
    return (table[["hypothesis", "nbest_2", "nbest_3"]].values.tolist(),
            table[["score", "nbest_score_2", "nbest_score_3"]].to_numpy(float))


def test_bleu_equals_the_sacrebleu_command_line_on_the_same_files(translate_run, tmp_path):
    table = translations(translate_run)
    (tmp_path / "hyp.txt").write_text("\n".join(table["hypothesis"]) + "\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("\n".join(table["reference"]) + "\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "sacrebleu", str(tmp_path / "ref.txt"), "-i", str(tmp_path / "hyp.txt"),
                          "-m", "bleu", "-b", "-w", "4"], capture_output=True, text=True, check=True)
    assert float(out.stdout.strip()) == pytest.approx(translate_run["result"]["metrics"]["test_bleu"], abs=5e-5)


def test_mlflow_run_has_val_bleu_per_epoch_signatures_heatmaps_and_the_tsv(translate_run):
    result = translate_run["result"]
    client = mlflow.MlflowClient(result["tracking_uri"])
    run = client.get_run(result["run_id"])
    assert [m.step for m in client.get_metric_history(result["run_id"], "val_bleu")] == [0, 1]
    assert run.data.tags["sacrebleu.bleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6")
    assert run.data.tags["meteor.backend"].endswith(", Snowball spanish stemmer, no synonyms (WordNet is English)")
    assert run.data.tags["meteor_1.5.command"] == '-l es -m "exact stem" -norm'
    assert run.data.params["stages.decode.attention"] == "bahdanau"
    assert run.data.params["stages.generate.decoding.beam_width"] == "3"
    files = {f.path for f in client.list_artifacts(result["run_id"], "plots")}
    assert {"plots/attention_0.png", "plots/attention_1.png", "plots/training_curves.png"} <= files
    files = {f.path for f in client.list_artifacts(result["run_id"], "evaluation")}
    assert "evaluation/test_translations.tsv" in files


SERVE = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["translate"](text=tf.constant(json.load(sys.stdin)))
assert "seqpipe" not in sys.modules
print(json.dumps({"translation": [t.decode("utf-8") for t in out["translation"].numpy()],
                  "n_best": [[t.decode("utf-8") for t in row] for row in out["n_best"].numpy()],
                  "n_best_scores": out["n_best_scores"].numpy().tolist()}))
"""


def test_saved_model_translate_signature_matches_the_pipeline_beam_output(translate_run):
    table = translations(translate_run)
    proc = subprocess.run([sys.executable, "-c", SERVE, translate_run["result"]["export_path"]],
                          input=json.dumps(table["source"].tolist()),
                          capture_output=True, text=True, timeout=600, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["translation"] == table["hypothesis"].tolist()
    texts, scores = nbest(table)
    assert out["n_best"] == texts
    np.testing.assert_allclose(out["n_best_scores"], scores, rtol=1e-5)
    meta = json.loads((Path(translate_run["result"]["export_path"]) / "seqpipe.json").read_text())
    assert meta["n_best"] == 3


def test_predict_translates_lines_from_stdin(translate_run):
    table = translations(translate_run).head(3)
    proc = seqpipe("predict", translate_run["result"]["run_dir"], "--format", "json",
                   stdin="\n".join(table["source"]) + "\n", cwd=translate_run["workdir"])
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["translation"] for r in rows] == table["hypothesis"].tolist()


def test_predict_n_best_prints_the_ranked_hypotheses_and_refuses_more_than_the_export_keeps(translate_run):
    table = translations(translate_run).head(2)
    proc = seqpipe("predict", translate_run["result"]["run_dir"], "--n-best", "3", "--format", "json",
                   stdin="\n".join(table["source"]) + "\n", cwd=translate_run["workdir"])
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["text"], r["rank"]) for r in rows] == [(t, k) for t in table["source"] for k in (1, 2, 3)]
    texts, scores = nbest(table)
    assert [r["translation"] for r in rows] == [t for row in texts for t in row]
    np.testing.assert_allclose([r["score"] for r in rows], scores.ravel(), rtol=1e-5)
    proc = seqpipe("predict", translate_run["result"]["run_dir"], "--n-best", "4", stdin="a\n",
                   cwd=translate_run["workdir"], check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "(n_best: 3)" in proc.stderr and "export.decoding.n_best" in proc.stderr


def test_mlflow_pyfunc_model_returns_the_n_best_as_lists(translate_run, monkeypatch):
    result = translate_run["result"]
    table = translations(translate_run).head(4)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", result["tracking_uri"])  # not mlflow.set_tracking_uri: it is global
    model = mlflow.pyfunc.load_model(f"runs:/{result['run_id']}/model")
    out = model.predict(pd.DataFrame({"text": table["source"]}))
    assert out["translation"].tolist() == table["hypothesis"].tolist()
    texts, scores = nbest(table)
    assert [list(row) for row in out["n_best"]] == texts
    assert all(isinstance(row, list) and len(row) == 3 for row in out["n_best_scores"])
    np.testing.assert_allclose(np.array(out["n_best_scores"].tolist()), scores, rtol=1e-5)


def test_the_saved_keras_model_loads_in_safe_mode_and_gives_the_same_logits(translate_run):
    import keras

    from seqpipe.saving import load_model

    path = Path(translate_run["result"]["run_dir"]) / "export" / "model.keras"
    model = load_model(path)  # safe_mode=True: a Lambda layer (code in the file) would be refused
    source = np.array([[5, 6, 7, 0], [8, 9, 0, 0]], "int32")
    target = np.array([[2, 5, 6], [2, 7, 0]], "int32")
    again = keras.saving.load_model(path, compile=False, safe_mode=True)
    np.testing.assert_allclose(model([source, target]).numpy(), again([source, target]).numpy(), atol=1e-6)
    assert model.get_layer("source_mask").__class__.__name__ == "NotEqual"


def test_evaluation_logs_a_bleu_interval_and_the_test_set_fingerprint(translate_run):
    result = translate_run["result"]
    run = mlflow.MlflowClient(result["tracking_uri"]).get_run(result["run_id"])
    metrics, tags = run.data.metrics, run.data.tags
    assert metrics["test_bleu_ci_low"] <= metrics["test_bleu"] <= metrics["test_bleu_ci_high"]
    table = translations(translate_run)
    assert tags["seqpipe.test_set.examples"] == str(len(table))
    assert len(tags["seqpipe.test_set.sha256"]) == 64
