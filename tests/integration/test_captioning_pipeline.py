"""End to end: the smoke captioning pipeline on generated shapes (200 images), its export, predict, and own data."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import seqpipe

pytestmark = pytest.mark.java  # the pipeline reports meteor_1.5 (the METEOR 1.5 jar)


def captions(run):
    return pd.read_csv(Path(run["result"]["run_dir"]) / "evaluation" / "test_captions.tsv", sep="\t",
                       keep_default_na=False, quoting=3)


def test_run_scores_beam_and_greedy_against_every_caption_of_an_image(captions_run):
    metrics = captions_run["result"]["metrics"]
    for name in ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor_coco", "rouge_l", "cider_d"):  # the COCO set
        assert f"test_{name}" in metrics and f"test_{name}_greedy" in metrics
    assert all(0 <= metrics[f"test_{name}"] <= 1 + 1e-9 for name in ("bleu_4", "meteor_coco", "rouge_l"))
    assert 0 <= metrics["test_cider_d"] <= 10 + 1e-9
    table = captions(captions_run)
    assert list(table.columns) == ["image", "references", "image_digest", "hypothesis", "bleu", "chrf", "score",
                                   "hypothesis_greedy", "bleu_greedy", "chrf_greedy", "score_greedy", "nbest_2",
                                   "nbest_score_2"]
    assert (table["score"] >= table["nbest_score_2"]).all()
    assert table["image"].is_unique and all(Path(p).is_absolute() and p.endswith(".png") for p in table["image"])
    assert (table["references"].str.count(r" \| ") == 1).all()  # every generated image has two captions


def test_mlflow_has_val_bleu_per_epoch_attention_maps_and_the_captions(captions_run):
    result = captions_run["result"]
    client = mlflow.MlflowClient(result["tracking_uri"])
    run = client.get_run(result["run_id"])
    assert [m.step for m in client.get_metric_history(result["run_id"], "val_bleu")] == [0, 1]
    assert run.data.params["stages.see.image_size"] == "[64, 64]"
    assert run.data.params["data.source.options.examples"] == "200"
    files = {f.path for f in client.list_artifacts(result["run_id"], "plots")}
    assert {"plots/attention_0.png", "plots/attention_1.png", "plots/training_curves.png"} <= files
    assert "evaluation/test_captions.tsv" in {f.path for f in client.list_artifacts(result["run_id"], "evaluation")}
    assert "caption_vocab.txt" in {f.path for f in client.list_artifacts(result["run_id"])}


SERVE = """
import json, sys
sys.modules["seqpipe"] = None  # the export must not need seqpipe
import tensorflow as tf
import tensorflow_text  # noqa: F401
model = tf.saved_model.load(sys.argv[1])
paths = json.load(sys.stdin)
captions = []
for start in range(0, len(paths), 64):
    images = tf.constant([open(p, "rb").read() for p in paths[start:start + 64]])
    captions += [c.decode("utf-8") for c in model.signatures["serving_default"](image=images)["caption"].numpy()]
print(json.dumps(captions))
"""


def test_saved_model_takes_image_bytes_and_gives_the_pipelines_beam_captions(captions_run):
    table = captions(captions_run)
    proc = subprocess.run([sys.executable, "-c", SERVE, captions_run["result"]["export_path"]],
                          input=json.dumps(table["image"].tolist()), capture_output=True, text=True, timeout=600,
                          cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == table["hypothesis"].tolist()
    meta = json.loads((Path(captions_run["result"]["export_path"]) / "seqpipe.json").read_text())
    assert meta["task"] == "captioning" and meta["input"] == "image" and meta["signature"] == "caption"


def test_predict_captions_image_paths_one_per_line(captions_run, tmp_path):
    from PIL import Image

    table = captions(captions_run).head(3)
    bigger = tmp_path / "bigger.jpg"  # any size and format: resized in the graph
    Image.open(table["image"][0]).convert("RGB").resize((128, 96)).save(bigger, quality=95)
    lines = [*table["image"], str(bigger)]
    proc = seqpipe("predict", captions_run["result"]["run_dir"], "--format", "json", stdin="\n".join(lines) + "\n",
                   cwd=captions_run["workdir"])
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["image"] for r in rows] == lines
    assert [r["caption"] for r in rows[:3]] == table["hypothesis"].tolist()
    assert isinstance(rows[3]["caption"], str) and np.isfinite(rows[3]["score"])
    missing = seqpipe("predict", captions_run["result"]["run_dir"], stdin="no/such.png\n", cwd=captions_run["workdir"],
                      check=False)
    assert missing.returncode == 2 and "no/such.png: cannot read the image" in missing.stderr
    proc = seqpipe("predict", captions_run["result"]["run_dir"], "--n-best", "2", stdin="\n".join(lines) + "\n",
                   cwd=captions_run["workdir"])
    ranked = pd.read_csv(io.StringIO(proc.stdout), sep="\t", keep_default_na=False, quoting=3)
    assert list(ranked.columns) == ["image", "rank", "caption", "score"]
    assert ranked["rank"].tolist() == [1, 2] * 4 and ranked["image"].tolist() == [x for x in lines for _ in "12"]
    assert ranked["caption"].tolist()[:6] == [c for pair in zip(table["hypothesis"], table["nbest_2"]) for c in pair]


def test_the_saved_keras_model_loads_in_safe_mode(captions_run):
    from seqpipe.saving import load_model

    model = load_model(Path(captions_run["result"]["run_dir"]) / "export" / "model.keras")
    pixels = np.random.default_rng(0).uniform(size=(2, 64, 64, 3)).astype("float32")
    logits = model([pixels, np.array([[2, 5, 6], [2, 7, 0]], "int32")])
    assert logits.shape == (2, 3, model.output_shape[-1])


def test_scheduled_sampling_logs_the_teacher_forcing_ratio_per_epoch(tmp_path):
    """The smoke pipeline with an inverse-sigmoid schedule (k = 5: eps falls from 0.83 to about 0.05 in 2 epochs)."""
    import seqpipe

    run = seqpipe.run(Path(__file__).parents[2] / "pipelines/smoke/captions_shapes.yaml",
                      ["tracking.backend=none", f"output_dir={tmp_path}", "export.keras=false",
                       "describe.attention_maps=0",
                       "train.scheduled_sampling={schedule: inverse_sigmoid, k: 5, prediction: sample}"],
                      progress=False)
    import re

    history = pd.read_csv(run.run_dir / "history.csv")
    log = (run.run_dir / "run.log").read_text(encoding="utf-8")
    per_epoch = -(-int(re.search(r"train_examples (\d+)", log).group(1)) // 16)  # batches of 16
    k = 5
    expected = [k / (k + np.exp((per_epoch * (epoch + 1) - 1) / k)) for epoch in range(2)]  # each epoch's last step
    np.testing.assert_allclose(history["teacher_forcing_ratio"], expected, rtol=1e-5)
    assert ("scheduled sampling: {'schedule': 'inverse_sigmoid', 'k': 5.0, 'min_ratio': 0.0, 'prediction': 'sample'}"
            in log)
    assert 0 <= run.metrics["test_bleu_4"] <= 1 + 1e-9


def test_own_images_in_a_jsonl_table_beside_the_data_file(tmp_path):
    """A user's own table: relative image paths from the data file's folder; a missing image is named and skipped."""
    from PIL import Image

    import seqpipe

    rng = np.random.default_rng(0)
    (tmp_path / "data" / "img").mkdir(parents=True)
    rows = []
    for i in range(60):
        colour, name = [((220, 30, 30), "red"), ((30, 30, 220), "blue")][i % 2]
        Image.new("RGB", (24, 20), colour).save(tmp_path / "data" / "img" / f"{i}.png")
        rows.append({"image": f"img/{i}.png", "caption": f"a {name} picture"})
    rows.append({"image": "img/missing.png", "caption": "nothing"})
    rng.shuffle(rows)
    (tmp_path / "data" / "caps.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = {"name": "own-captions", "task": "captioning", "tracking": {"backend": "none"},
              "output_dir": str(tmp_path / "runs"),
              "data": {"source": {"path": "data/caps.jsonl"}, "on_error": "skip",
                       "split": {"valid": 0.15, "test": 0.15}},
              "stages": [{"tokenize": {}}, {"see": {"blocks": [{"filters": 4}], "image_size": [16, 16]}},
                         {"caption": {"units": 8, "embed_dim": 4}},
                         {"train": {"epochs": 1, "batch_size": 8, "validation_subset": 4}},
                         {"describe": {"decoding": {"strategy": "sampling", "seed": 1, "temperature": 0.7},
                                       "attention_maps": 1}},
                         {"evaluate": {"metrics": ["bleu", "chrf", "ter"]}}]}
    result = seqpipe.run(config, base_dir=tmp_path, progress=False)
    assert {"test_bleu", "test_ter", "test_bleu_greedy"} <= set(result.metrics)
    log = (result.run_dir / "run.log").read_text(encoding="utf-8")
    assert "data.on_error: skip dropped 1 row" in log and "missing.png not found" in log
    assert (result.run_dir / "plots" / "attention_0.png").exists()
