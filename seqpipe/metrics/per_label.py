"""Per-label scores (one tag or class each) as MLflow metrics, with keys that stay distinct."""

from __future__ import annotations

PER_LABEL_METRICS = 100  # up to this many tags or classes, each one's precision/recall/F1 is also an MLflow metric
PER_LABEL_COLUMNS = ("precision", "recall", "f1")


def label_metric_key(split: str, column: str, label: str) -> str:
    """The MLflow key of one label's score: ``test_f1/PRP.24`` (injective, see ``tracking.params.escape_name``)."""
    from seqpipe.tracking.params import escape_name

    return f"{split}_{column}/{escape_name(label)}"


def with_metric_keys(report, split: str, labels: list[str]):
    """The report with a ``metric_key`` column: where each label's f1 is in MLflow (precision/recall alike)."""
    report = report.copy()
    report["metric_key"] = [label_metric_key(split, "f1", name) if name in labels else "" for name in report.index]
    return report


def log_per_label(ctx, split: str, report, labels: list[str]) -> None:
    """Each label's precision, recall and F1 as MLflow metrics (up to :data:`PER_LABEL_METRICS` labels)."""
    if len(labels) > PER_LABEL_METRICS:
        ctx.log.info("evaluate: %d labels; per-label scores are in the report CSV only (MLflow gets up to %d)",
                     len(labels), PER_LABEL_METRICS)
        return
    ctx.tracker.log_metrics({label_metric_key(split, column, label): float(report.loc[label, column])
                             for label in labels for column in PER_LABEL_COLUMNS})
