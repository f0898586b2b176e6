"""The decoder-only Transformer language model (encode.kind: transformer on task language_model): it learns, its
cached generation continues prompts of unequal length as it continues each alone, and its SavedModel scores and
generates in a fresh process as the run did."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import seqpipe
from tests.integration.conftest import run_smoke
from tests.integration.test_language_model import SERVE


@pytest.fixture(scope="module")
def pattern_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("transformer-pattern")
    rows = ["text\tgroup"] + [("abcdefgh" * 60) + f"\tg{g}" for g in range(12)]
    (folder / "pattern.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = {
        "name": "transformer-pattern", "task": "language_model", "tracking": {"backend": "none"}, "seed": 3,
        "output_dir": str(folder / "runs"),
        "data": {"source": {"path": str(folder / "pattern.tsv")},
                 "split": {"valid": 0.2, "test": 0.2, "group_by": "group"}},
        "stages": [{"tokenize": {"kind": "char", "vocab_size": 32, "lowercase": False}}, {"embed": {"dim": 16}},
                   {"encode": {"kind": "transformer", "units": 16, "layers": 1, "heads": 2, "ff_dim": 32}}, {"lm": {}},
                   {"train": {"epochs": 6, "batch_size": 16, "window": 32, "optimizer": {"learning_rate": 0.01}}},
                   {"evaluate": {"splits": ["valid", "test"], "shuffled_pairs": 0}}, {"export": {}}],
    }
    return seqpipe.run(config, progress=False)


def test_the_transformer_lm_learns_a_deterministic_pattern(pattern_run):
    assert pattern_run.metrics["valid_loss"] < 0.1


def test_cached_stepping_reproduces_the_full_model_and_left_padding_changes_nothing(pattern_run):
    from seqpipe.tasks.language_model.commands import load_language_model
    from seqpipe.tasks.language_model.transformer_lm import TransformerLanguageModel

    lm = load_language_model(str(pattern_run.run_dir))
    assert isinstance(lm, TransformerLanguageModel)
    ids = np.array([[2] + [4 + (i % 8) for i in range(11)]], "int32")
    full = lm.model(ids).numpy()[0]
    state = lm.stack.initial_state(1, ids.shape[1])
    for t in range(ids.shape[1]):
        logits, state = lm.advance(tf.constant(ids[:, t]), state)
        np.testing.assert_allclose(logits.numpy()[0], full[t], atol=1e-4)
    greedy = lm.function("generate", decoding={"strategy": "greedy"}, max_length=10)
    assert greedy(tf.constant(["cde"]))["text"].numpy()[0].decode() == "cdefghabcdefg"
    prompts = ["cde", "abcdefghabc", "h"]  # one batch: the shorter prompts are left-padded
    together = lm.function("generate", decoding={"strategy": "greedy"}, max_length=12)(tf.constant(prompts))
    alone = [lm.function("generate", decoding={"strategy": "greedy"}, max_length=12)(tf.constant([p]))
             for p in prompts]
    assert together["text"].numpy().tolist() == [a["text"].numpy()[0] for a in alone]
    np.testing.assert_allclose(together["log_prob"].numpy(), [a["log_prob"].numpy()[0] for a in alone], atol=1e-4)


def test_the_smoke_pipeline_scores_and_generates_in_a_fresh_process(tmp_path_factory):
    run = run_smoke(tmp_path_factory, "shakespeare_char_transformer")
    result = run["result"]
    assert result["metrics"]["test_real_over_shuffled"] > 0.5
    table = pd.read_csv(Path(result["run_dir"]) / "evaluation" / "test_real_vs_shuffled.tsv", sep="\t",
                        keep_default_na=False, quoting=3).head(10)
    proc = subprocess.run([sys.executable, "-c", SERVE, result["export_path"]],
                          input=json.dumps(table["line"].tolist()), capture_output=True, text=True, timeout=600,
                          cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(served["log_prob"], table["log_prob"], rtol=1e-4, atol=1e-3)
    assert served["text"] == (Path(result["run_dir"]) / "samples" / "final.txt").read_text().strip()

