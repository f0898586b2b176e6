"""The GPU check (bench/gpu.py): its cuDNN verdict from traced graphs, its results section, and its refusal
where no GPU is visible (this tier never has one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from bench import gpu
from bench.gpu_cudnn import ran_cudnn, verdict

ROOT = Path(__file__).resolve().parents[2]


def test_verdict_matches_cudnn_ops_to_whole_scope_segments():
    ops = [("functional/enc/forward_lstm/CudnnRNNV3", "CudnnRNNV3"),
           ("gradient_tape/functional/enc/forward_lstm/CudnnRNNBackpropV3", "CudnnRNNBackpropV3"),
           ("functional/gru_1/CudnnRNNV3", "CudnnRNNV3"),
           ("functional/enc/backward_lstm/while", "While"),
           ("functional/lstm/MatMul", "MatMul")]
    assert verdict(ops, ["forward_lstm", "backward_lstm", "gru", "lstm", "enc_lstm"]) == {
        "forward_lstm": True, "backward_lstm": False, "gru": True, "lstm": False, "enc_lstm": False}
    assert verdict([], ["forward_lstm"]) == {"forward_lstm": False}


def _model():
    import keras

    inputs = keras.Input((6, 4))
    h = keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True, name="lstm"), name="enc")(inputs)
    h = keras.layers.GRU(3, name="gru")(h)
    slow = keras.layers.LSTM(3, recurrent_dropout=0.1, name="slow")(inputs)
    return keras.Model(inputs, [h, slow])


def test_ran_cudnn_reads_the_traced_training_step():
    model = _model()
    batch = (np.zeros((2, 6, 4), "float32"), np.zeros((2, 3), "float32"))
    # No GPU here: Keras takes the loop for every layer.
    assert ran_cudnn(model, batch) == {"forward_lstm": False, "backward_lstm": False, "gru": False, "slow": False}
    # Where Keras believes a GPU is visible it emits CudnnRNNV3 (traced, never run) for the eligible layers only.
    with mock.patch("keras.src.backend.tensorflow.rnn._is_gpu_available", return_value=True):
        assert ran_cudnn(model, batch) == {"forward_lstm": True, "backward_lstm": True, "gru": True, "slow": False}


def _result(**changes):
    result = {"name": "p", "pipeline": "p.yaml", "overrides": [], "lint": ["stages.decode: steps its cells"],
              "seconds": 1.0, "error": None, "steps_per_s": 12.5, "tokens_per_s": 20000.0, "steps": 300,
              "cudnn": {"forward_lstm": True, "backward_lstm": True}, "cudnn_error": None}
    return {**result, **changes}


def test_passed_needs_a_run_and_every_layer_on_cudnn():
    assert gpu.passed(_result())
    assert not gpu.passed(_result(cudnn={"forward_lstm": True, "backward_lstm": False}))
    assert not gpu.passed(_result(cudnn={}))
    assert not gpu.passed(_result(error="no result within 210 s"))


def test_rates_leave_out_the_first_step():
    record = {"epochs": [[10.0, 10.5, 11.0, 12.0]], "tokens": [100, 200, 300, 400]}
    assert gpu.rates(record) == (1.5, 150.0, 4)


def test_write_section_replaces_the_gpu_section_and_keeps_the_others(tmp_path):
    markdown = tmp_path / "results.md"
    markdown.write_text("# results\n\n## B1: one\n\nbody 1\n\n## GPU: old\n\nstale\n\n## B2: two\n\nbody 2\n")
    data = {"devices": ["NVIDIA H100 80GB HBM3"], "date": "2026-12-07", "pipelines": [
        _result(), _result(name="q", cudnn={"lstm": False})]}
    gpu.write_section(markdown, data)
    text = markdown.read_text()
    assert "stale" not in text and text.count("## GPU:") == 1
    assert text.index("body 1") < text.index("body 2") < text.index("## GPU:")
    assert "| p | 12.5 | 20,000 | 300 | yes | forward_lstm: cuDNN, backward_lstm: cuDNN |" in text
    assert "| q | 12.5 | 20,000 | 300 | NO | lstm: loop |" in text
    assert "NVIDIA H100 80GB HBM3" in text


def test_refuses_without_a_gpu_in_one_line_and_writes_nothing():
    watched = [ROOT / "bench" / "results.md", ROOT / "bench" / "results" / "gpu.json"]
    before = [p.read_bytes() if p.exists() else None for p in watched]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run([sys.executable, "-m", "bench", "--gpu"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("bench --gpu: no GPU is visible")
    assert [p.read_bytes() if p.exists() else None for p in watched] == before


@pytest.mark.parametrize("entry", gpu.PIPELINES, ids=[p[0] for p in gpu.PIPELINES])
def test_pipeline_list_entries_load_with_the_common_overrides(entry):
    from seqpipe.api import load

    name, path, overrides = entry
    config, _, _ = load(ROOT / path, [*gpu.COMMON, *overrides])
    assert config.runtime.precision == "mixed_float16" and config.stage("train").epochs == 1
