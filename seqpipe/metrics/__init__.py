"""Classification metrics, per-class reports and confusion-matrix plots."""

from seqpipe.metrics.classification import (
    METRICS,
    classification_report,
    confusion_matrix,
    plot_confusion_matrix,
)

__all__ = ["METRICS", "classification_report", "confusion_matrix", "plot_confusion_matrix"]
