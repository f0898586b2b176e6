"""End to end under ``runtime.precision: mixed_bfloat16``: the smoke BiLSTM sentiment pipeline computes its
recurrent layers in bfloat16 with float32 variables, trains to a finite loss, and its SavedModel answers in a
fresh process as the in-process evaluation did; its numbers are not the float32 run's."""

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import REPO, run_smoke, seqpipe

DTYPES = """
import json, sys
import keras
from seqpipe.saving import load_model
model = load_model(sys.argv[1])
recurrent = [layer for layer in model._flatten_layers(include_self=False)
             if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU))]
print(json.dumps({"recurrent": {layer.name: [layer.compute_dtype, sorted({w.dtype for w in layer.weights})]
                                for layer in recurrent},
                  "variables": sorted({w.dtype for w in model.weights})}))
"""


@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory):
    return run_smoke(tmp_path_factory, "sentiment_bilstm", "runtime.precision=mixed_bfloat16")


def test_run_records_the_policy_and_trains_to_a_finite_loss(bf16_run):
    result = bf16_run["result"]
    assert result["status"] == "FINISHED"
    tags = mlflow.MlflowClient(result["tracking_uri"]).get_run(result["run_id"]).data.tags
    assert tags["precision"] == "mixed_bfloat16"
    history = pd.read_csv(Path(result["run_dir"]) / "history.csv")
    assert len(history) == 2 and all(math.isfinite(v) for v in history["loss"].tolist() + history["val_loss"].tolist())
    assert 0.0 <= result["metrics"]["test_accuracy"] <= 1.0


def test_recurrent_layers_compute_in_bfloat16_with_float32_variables(bf16_run):
    model = Path(bf16_run["result"]["run_dir"]) / "export" / "model.keras"
    proc = subprocess.run([sys.executable, "-c", DTYPES, str(model)], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(found["recurrent"]) == 4  # the smoke BiLSTM: two layers, forward and backward each
    assert all(v == ["bfloat16", ["float32"]] for v in found["recurrent"].values()), found
    assert found["variables"] == ["float32"]


def test_saved_model_in_a_fresh_process_gives_the_evaluated_labels(bf16_run):
    result = bf16_run["result"]
    table = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_predictions.csv").head(6)
    proc = seqpipe("predict", result["run_dir"], stdin="\n".join(table["text"]) + "\n", cwd=bf16_run["workdir"])
    out = pd.read_csv(io.StringIO(proc.stdout), sep="\t")
    assert out["label"].tolist() == table["predicted"].tolist()
    np.testing.assert_allclose(out["p_positive"], table["p_positive"], atol=1e-2)  # bfloat16: ~3 digits


def test_bfloat16_numbers_differ_from_the_float32_run(bf16_run, smoke_run):
    def probabilities(run):
        table = pd.read_csv(Path(run["result"]["run_dir"]) / "evaluation" / "test_predictions.csv")
        return table.sort_values("text")["p_positive"].to_numpy()

    bf16, fp32 = probabilities(bf16_run), probabilities(smoke_run)
    assert bf16.shape == fp32.shape == (90,)  # the same seeded test split
    assert np.abs(bf16 - fp32).max() > 1e-4  # bfloat16 rounding reaches the outputs


TRANSFORMER_DTYPES = """
import json, sys
from seqpipe.saving import load_model
model = load_model(sys.argv[1])
stack = model.get_layer("encoder_transformer")
print(json.dumps({"blocks": sorted({block.compute_dtype for block in stack.blocks}),
                  "variables": sorted({w.dtype for w in model.weights}),
                  "logits": model.get_layer("lm_logits").compute_dtype}))
"""


def test_a_transformer_language_model_trains_and_generates_in_mixed_bfloat16(tmp_path_factory):
    run = run_smoke(tmp_path_factory, "shakespeare_char_transformer", "runtime.precision=mixed_bfloat16")
    result = run["result"]
    assert result["status"] == "FINISHED" and math.isfinite(result["metrics"]["test_loss"])
    assert mlflow.MlflowClient(result["tracking_uri"]).get_run(result["run_id"]).data.tags["precision"] == \
        "mixed_bfloat16"
    proc = subprocess.run([sys.executable, "-c", TRANSFORMER_DTYPES, str(Path(result["run_dir"]) / "export" /
                                                                          "model.keras")],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found == {"blocks": ["bfloat16"], "variables": ["float32"], "logits": "float32"}
    # the exported generate signature (cached steps in bfloat16) continues the prompt as the run's sample did
    served = seqpipe("generate", result["run_dir"], "--prompt", "ROMEO:", "--max-length", "40", "--temperature",
                     "0.8", "--seed", "1", cwd=run["workdir"]).stdout.strip()
    assert served == (Path(result["run_dir"]) / "samples" / "final.txt").read_text().strip()
