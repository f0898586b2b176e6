"""The full flagship pipeline meets its quality bar (about 35 s on 2 cores, so it runs by default)."""

import json
from pathlib import Path

from tests.integration.conftest import REPO, seqpipe


def test_full_sentiment_pipeline_reaches_70_percent_test_accuracy(tmp_path):
    proc = seqpipe("run", str(REPO / "pipelines/sentiment_bilstm.yaml"), "--json", "-o", "tracking.backend=none",
                   cwd=tmp_path)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["metrics"]["test_accuracy"] >= 0.70, result["metrics"]
    assert result["metrics"]["test_macro_f1"] >= 0.70, result["metrics"]
    assert (Path(result["export_path"]) / "saved_model.pb").exists()
    assert result["run_id"] is None  # tracking.backend=none records nothing
