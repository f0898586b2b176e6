"""Experiment tracking: a small ``Tracker`` interface with MLflow and no-op backends."""

from seqpipe.tracking.base import TRACKERS, NullTracker, Tracker
from seqpipe.tracking.mlflow_tracker import MLflowTracker, ensure_store, resolve_tracking_uri
from seqpipe.tracking.params import flatten_params

__all__ = [
    "TRACKERS",
    "MLflowTracker",
    "NullTracker",
    "Tracker",
    "ensure_store",
    "flatten_params",
    "resolve_tracking_uri",
]
