"""Run the smoke pipeline once per session (via the CLI, as a user would) and share the result."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def seqpipe(*args, cwd, check=True, stdin=None, timeout=900):
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run([sys.executable, "-m", "seqpipe", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"seqpipe {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc


def run_smoke(tmp_path_factory, name, *overrides):
    """`seqpipe run pipelines/smoke/<name>.yaml --json [-o KEY=VALUE ...]` in a fresh working directory."""
    workdir = tmp_path_factory.mktemp(name)
    options = [arg for override in overrides for arg in ("-o", override)]
    proc = seqpipe("run", str(REPO / f"pipelines/smoke/{name}.yaml"), "--json", *options, cwd=workdir)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"workdir": workdir, "result": result, "stderr": proc.stderr}


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    return run_smoke(tmp_path_factory, "sentiment_bilstm")


@pytest.fixture(scope="session")
def translate_run(tmp_path_factory):
    return run_smoke(tmp_path_factory, "translate_en_es", "generate.decoding.n_best=3")  # beam_width 3


@pytest.fixture(scope="session")
def transformer_translate_run(tmp_path_factory):
    return run_smoke(tmp_path_factory, "translate_en_es_transformer")


@pytest.fixture(scope="session")
def char_lm_run(tmp_path_factory):
    return run_smoke(tmp_path_factory, "shakespeare_char_lstm")


@pytest.fixture(scope="session")
def pos_run(tmp_path_factory):
    return run_smoke(tmp_path_factory, "pos_brown_bilstm")


@pytest.fixture(scope="session")
def adding_run(tmp_path_factory):
    return run_smoke(tmp_path_factory, "long_dependencies")


@pytest.fixture(scope="session")
def captions_run(tmp_path_factory):
    return run_smoke(tmp_path_factory, "captions_shapes", "describe.decoding.n_best=2")  # beam_width 3
