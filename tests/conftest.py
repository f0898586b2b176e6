"""Shared test set-up: quiet TensorFlow, MLflow without telemetry, a private stage cache; the test tiers.

Tiers: ``tests/unit`` is the inner loop (in-process, tiny data, no network, apt or Java); ``tests/integration``
(marked ``integration`` by folder) runs pipelines, servers, subprocesses and real data. ``slow`` marks the full
pipelines (``-m slow`` selects them; the default run leaves them out). ``apt``, ``java``, ``wordnet`` and
``network`` say what else a test needs; such a test fails, naming what is missing, when it cannot be had. Java and
WordNet are got as the product gets them (apt-get when running as root, announced).
"""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# Stage-cache entries of this test session only (runs in one session may share them; none leak into later sessions).
os.environ.setdefault("SEQPIPE_STAGE_CACHE", tempfile.mkdtemp(prefix="seqpipe-stage-cache-"))

INTEGRATION = Path(__file__).resolve().parent / "integration"
DEPENDENCY_MARKERS = ("apt", "java", "wordnet", "network")  # what a test needs beyond the Python packages


def pytest_collection_modifyitems(config, items):
    """Tests under tests/integration are marked ``integration`` (the folder is the tier)."""
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(INTEGRATION):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _needs(request):
    """A test marked ``java`` or ``wordnet`` gets it as the product does (``meteor_jar.ensure_java``,
    ``wordnet.prepare_wordnet``: apt-get as root, announced), else fails naming what is missing (never skips)."""
    from seqpipe.errors import DataError

    if request.node.get_closest_marker("java"):
        from seqpipe.metrics import meteor_jar

        try:
            meteor_jar.ensure_java()
        except DataError as exc:
            pytest.fail(f"this test needs Java (the METEOR 1.5 jar): {exc}")
    if request.node.get_closest_marker("wordnet"):
        from seqpipe.metrics import wordnet

        try:
            wordnet.prepare_wordnet()
        except DataError as exc:
            pytest.fail(f"this test needs WordNet: {exc}")


@pytest.fixture
def fresh_meteor(monkeypatch):
    """METEOR loads its WordNet (or falls back) anew in the test and again after it."""
    from seqpipe.metrics import text_scores

    text_scores._wordnet.cache_clear()
    yield monkeypatch
    text_scores._wordnet.cache_clear()
