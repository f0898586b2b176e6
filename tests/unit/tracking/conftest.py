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
