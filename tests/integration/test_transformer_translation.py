"""End to end: the Transformer translation smoke pipeline (encode.kind and decode.kind: transformer) decodes with
the key/value cache in the same compiled searches, and its SavedModel in a fresh process gives the beam output."""

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import seqpipe

pytestmark = [pytest.mark.apt, pytest.mark.java]  # the parallel Bible (Debian's sword packages); meteor_1.5's jar

SERVE = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["translate"](text=tf.constant(json.load(sys.stdin)))
assert "seqpipe" not in sys.modules
print(json.dumps({"translation": [t.decode("utf-8") for t in out["translation"].numpy()],
                  "score": out["score"].numpy().tolist(),
                  "n_best": [[t.decode("utf-8") for t in row] for row in out["n_best"].numpy()]}))
"""


def translations(run):
    return pd.read_csv(Path(run["result"]["run_dir"]) / "evaluation" / "test_translations.tsv", sep="\t",
                       keep_default_na=False, quoting=3)


def test_the_run_records_a_transformer_and_its_beam_and_greedy_scores(transformer_translate_run):
    result = transformer_translate_run["result"]
    client = mlflow.MlflowClient(result["tracking_uri"])
    run = client.get_run(result["run_id"])
    assert run.data.params["stages.encode.kind"] == "transformer"
    assert run.data.params["stages.decode.kind"] == "transformer"
    assert {"test_bleu", "test_bleu_greedy", "test_decode_tokens_per_s", "val_bleu"} <= set(run.data.metrics)
    assert run.data.tags["cudnn_eligible"] == "true"  # no recurrent layer, nothing that loses the fused kernel
    table = translations(transformer_translate_run)
    assert len(table) > 0 and {"hypothesis", "hypothesis_greedy", "nbest_3"} <= set(table.columns)
    files = {f.path for f in client.list_artifacts(result["run_id"], "plots")}
    assert {"plots/attention_0.png", "plots/attention_1.png"} <= files  # the last block's attention over the source


def test_saved_model_in_a_fresh_process_gives_the_in_process_beam_output(transformer_translate_run):
    table = translations(transformer_translate_run)
    proc = subprocess.run([sys.executable, "-c", SERVE, transformer_translate_run["result"]["export_path"]],
                          input=json.dumps(table["source"].tolist()), capture_output=True, text=True, timeout=600,
                          cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["translation"] == table["hypothesis"].tolist()
    np.testing.assert_allclose(out["score"], table["score"].to_numpy(), rtol=1e-5, atol=1e-5)
    assert [row[1:] for row in out["n_best"]] == table[["nbest_2", "nbest_3"]].values.tolist()


def test_predict_translates_with_the_transformer_export(transformer_translate_run):
    table = translations(transformer_translate_run).head(3)
    proc = seqpipe("predict", transformer_translate_run["result"]["run_dir"], "--format", "json",
                   stdin="\n".join(table["source"]) + "\n", cwd=transformer_translate_run["workdir"])
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["translation"] for r in rows] == table["hypothesis"].tolist()


def test_the_comparison_sweep_trains_recurrent_transformer_and_hybrids_as_nested_runs(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    proc = seqpipe("sweep", str(repo / "pipelines/smoke/compare_translation_models.yaml"), cwd=tmp_path)
    assert "best trial" in proc.stderr
    client = mlflow.MlflowClient(f"sqlite:///{(tmp_path / 'mlflow.db').as_posix()}")
    runs = client.search_runs([client.get_experiment_by_name("smoke").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("seqpipe.sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert all(c.info.status == "FINISHED" and "test_bleu" in c.data.metrics for c in children)
    kinds = sorted((c.data.params["stages.encode.kind"], c.data.params["stages.decode.kind"]) for c in children)
    assert kinds == [("recurrent", "recurrent"), ("recurrent", "transformer"), ("transformer", "recurrent"),
                     ("transformer", "transformer")]
    # the same budget for all; a trial's resolved parameters hold only its kinds' keys
    assert {c.data.params["stages.train.max_minutes"] for c in children} == {"0.1"}
    transformer = next(c for c in children if c.data.params["stages.decode.kind"] == "transformer")
    assert "stages.decode.cell" not in transformer.data.params and transformer.data.params["stages.decode.heads"] == "2"
    assert parent.data.metrics["trials_finished"] == 4
