"""Shared fixtures for tracker tests: a fresh sqlite store per test, telemetry off."""

import os

import pytest

# Before anything imports mlflow: its telemetry client is set up at import time.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture
def store_uri(tmp_path):
    return f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"


@pytest.fixture
def client(store_uri):
    from mlflow import MlflowClient

    return MlflowClient(store_uri)


def toy_serving(body: str):
    """A task's serving module (``Task.serving`` in seqpipe/tasks/base.py) for a toy SavedModel: ``body`` defines
    ``predict(model, inputs, meta, params)``; the module takes one string column ``text`` and no parameters."""
    import importlib.util
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "toy_serving.py"
    path.write_text('INPUT, INPUT_TYPE, PARAMS = "text", "string", {}\n' + body, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("toy_serving", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
