"""Language models: a toy pattern in-process, and the Shakespeare smoke pipeline through the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import seqpipe
from tests.integration.conftest import seqpipe as cli


@pytest.fixture(scope="module")
def pattern_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pattern")
    rows = ["text\tgroup"] + [("abcdefgh" * 60) + f"\tg{g}" for g in range(12)]
    (folder / "pattern.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = {
        "name": "pattern", "task": "language_model", "tracking": {"backend": "none"},
        "output_dir": str(folder / "runs"),
        "data": {"source": {"path": str(folder / "pattern.tsv")},
                 "split": {"valid": 0.2, "test": 0.2, "group_by": "group"}},
        "stages": [{"tokenize": {"kind": "char", "vocab_size": 32, "lowercase": False}}, {"embed": {"dim": 16}},
                   {"encode": {"cell": "lstm", "units": 32}}, {"lm": {}},
                   {"train": {"epochs": 6, "batch_size": 16, "window": 32, "optimizer": {"learning_rate": 0.01}}},
                   {"evaluate": {"splits": ["valid", "test"], "shuffled_pairs": 0}}, {"export": {}}],
    }
    return seqpipe.run(config, progress=False)


def test_tiny_lm_learns_a_deterministic_pattern_to_near_zero_loss(pattern_run):
    assert pattern_run.metrics["valid_loss"] < 0.05
    assert pattern_run.metrics["valid_bits_per_char"] == pytest.approx(pattern_run.metrics["valid_loss"] / np.log(2))


def test_stepping_reproduces_the_full_model_and_generation_is_seeded(pattern_run):
    from seqpipe.tasks.language_model.commands import load_language_model

    lm = load_language_model(str(pattern_run.run_dir))
    ids = np.array([[2] + [4 + (i % 8) for i in range(11)]], "int32")
    full = lm.model(ids).numpy()[0]
    state = lm.zero_state(1)
    for t in range(ids.shape[1]):
        logits, state = lm.advance(tf.constant(ids[:, t]), state)
        np.testing.assert_allclose(logits.numpy()[0], full[t], atol=1e-4)
    greedy = lm.function("generate", decoding={"strategy": "greedy"}, max_length=10)
    assert greedy(tf.constant(["cde"]))["text"].numpy()[0].decode() == "cdefghabcdefg"
    sample = {"strategy": "sampling", "temperature": 3.0, "seed": 7}
    first = lm.function("generate", decoding=sample, max_length=30)(tf.constant(["a"]))["text"].numpy()
    again = lm.function("generate", decoding=sample, max_length=30)(tf.constant(["a"]))["text"].numpy()
    other = lm.function("generate", decoding={**sample, "seed": 8}, max_length=30)(tf.constant(["a"]))["text"].numpy()
    assert first == again and first != other


def test_char_lm_smoke_reports_bits_per_char_and_logs_a_sample_every_epoch(char_lm_run):
    result = char_lm_run["result"]
    for split in ("valid", "test"):
        for name in ("loss", "perplexity", "bits_per_char", "real_over_shuffled"):
            assert f"{split}_{name}" in result["metrics"]
    client = mlflow.MlflowClient(result["tracking_uri"])
    files = {f.path for f in client.list_artifacts(result["run_id"], "samples")}
    assert {"samples/epoch_01.txt", "samples/final.txt"} <= files
    assert (Path(result["run_dir"]) / "samples" / "final.txt").read_text().startswith("ROMEO:")
    # even a one-epoch model prefers real held-out lines to word-shuffled copies most of the time
    assert result["metrics"]["test_real_over_shuffled"] > 0.6
    history = client.get_metric_history(result["run_id"], "val_bits_per_token")
    assert len(history) == 1 and history[0].value == pytest.approx(
        client.get_metric_history(result["run_id"], "val_loss")[0].value / np.log(2), rel=1e-5)


SERVE = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
model = tf.saved_model.load(sys.argv[1])
texts = json.load(sys.stdin)
score = model.signatures["score"](text=tf.constant(texts))
generated = model.signatures["generate"](text=tf.constant(["ROMEO:"]))
assert "seqpipe" not in sys.modules
print(json.dumps({"log_prob": score["log_prob"].numpy().tolist(), "text": generated["text"].numpy()[0].decode()}))
"""


def test_saved_model_score_and_generate_in_a_fresh_process(char_lm_run):
    result = char_lm_run["result"]
    table = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_real_vs_shuffled.tsv", sep="\t",
                        keep_default_na=False, quoting=3).head(10)
    proc = subprocess.run([sys.executable, "-c", SERVE, result["export_path"]],
                          input=json.dumps(table["line"].tolist()),
                          capture_output=True, text=True, timeout=600, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(served["log_prob"], table["log_prob"], rtol=1e-4, atol=1e-3)
    final = (Path(result["run_dir"]) / "samples" / "final.txt").read_text().strip()
    assert served["text"] == final  # same seed, same prompt, same model


def test_generate_and_score_commands(char_lm_run):
    run_dir, workdir = char_lm_run["result"]["run_dir"], char_lm_run["workdir"]
    a = cli("generate", run_dir, "--prompt", "ROMEO:", "--max-length", "30", "--temperature", "0.8", "--seed", "1",
            cwd=workdir)
    b = cli("generate", run_dir, "--prompt", "ROMEO:", "--max-length", "30", "--temperature", "0.8", "--seed", "1",
            cwd=workdir)
    assert a.stdout == b.stdout and a.stdout.startswith("ROMEO:")
    scored = cli("score", run_dir, stdin="To be, or not to be\nbe to or, be not To\n", cwd=workdir)
    rows = [line.split("\t") for line in scored.stdout.strip().splitlines()]
    assert rows[0] == ["text", "log_prob", "num_tokens", "log_prob_per_token", "token_log_probs", "known_tokens"]
    assert int(rows[1][2]) == len("To be, or not to be") and len(rows[1][4].split(",")) == int(rows[1][2])
    bad = cli("generate", run_dir, "--temperature", "0", cwd=workdir, check=False)
    assert bad.returncode == 2 and bad.stderr.strip() == "generate: --temperature: must be greater than 0; got 0.0"


def test_stateful_training_carries_state_and_hands_back_a_stateless_model(tmp_path):
    rows = ["text\tgroup"] + [("abcdefgh" * 60) + f"\tg{g}" for g in range(12)]
    (tmp_path / "pattern.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = {
        "name": "stateful", "task": "language_model", "tracking": {"backend": "none"},
        "output_dir": str(tmp_path / "runs"),
        "data": {"source": {"path": str(tmp_path / "pattern.tsv")},
                 "split": {"valid": 0.2, "test": 0.2, "group_by": "group"}},
        "stages": [{"tokenize": {"kind": "char", "vocab_size": 32, "lowercase": False}}, {"embed": {"dim": 16}},
                   {"encode": {"cell": "gru", "units": 32}}, {"lm": {}},
                   {"train": {"epochs": 6, "batch_size": 4, "window": 16, "stateful": True,
                              "optimizer": {"learning_rate": 0.01}}},
                   {"sample": {"prompts": ["bcd"], "max_length": 8, "decoding": {"strategy": "greedy"}}},
                   {"evaluate": {"splits": ["valid"], "shuffled_pairs": 0}}, {"export": {}}],
    }
    result = seqpipe.run(config, progress=False)
    assert result.metrics["valid_loss"] < 0.1  # evaluated with the stateless model and the trained weights
    assert (result.run_dir / "samples" / "final.txt").read_text().strip() == "bcdefghabcd"


def test_word_level_smoke_pipeline_reports_word_perplexity(tmp_path_factory):
    from tests.integration.conftest import run_smoke

    metrics = run_smoke(tmp_path_factory, "shakespeare_word_lstm")["result"]["metrics"]
    assert "test_bits_per_token" in metrics and "test_bits_per_char" not in metrics
    assert metrics["test_perplexity"] == pytest.approx(np.exp(metrics["test_loss"]), rel=1e-6)
    assert 1 < metrics["test_perplexity"] < 2000  # well below the 12,000-word vocabulary's uniform perplexity
