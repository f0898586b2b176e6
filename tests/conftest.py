"""Shared test set-up: quiet TensorFlow, MLflow without telemetry, a private cache."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# Stage-cache entries of this test session only (runs in one session may share them; none leak into later sessions).
os.environ.setdefault("SEQPIPE_STAGE_CACHE", tempfile.mkdtemp(prefix="seqpipe-stage-cache-"))
