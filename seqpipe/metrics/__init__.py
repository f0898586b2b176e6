"""Metrics, registered by the kind of prediction they score.

Every function in :data:`METRICS` has a ``scores`` attribute: ``"labels"`` (``fn(y_true ids,
y_pred ids, n_classes)``), ``"texts"`` (``fn(hypotheses, references)``), ``"tag_sequences"``
(``fn(gold tag lists, predicted tag lists)``) or ``"numbers"`` (``fn(true values, predicted
values)``). A task declares which kind it predicts (``Task.predicts``), which decides the metrics
its pipelines may name (see :func:`metric_names`). Importing this package stays light: sklearn, pandas, sacrebleu,
nltk and Java run only when a metric is computed.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from seqpipe.metrics.label_scores import (
    METRICS,
    confusion_matrix,
    label_report,
    plot_confusion_matrix,
)

F = TypeVar("F", bound=Callable)


def metric(name: str, scores: str) -> Callable[[F], F]:
    """Decorator: register the function in :data:`METRICS` as ``name``; ``scores`` is the prediction kind it scores."""

    def add(fn: F) -> F:
        fn.scores = scores
        METRICS.register(name, fn)
        return fn

    return add


def metric_names(scores: str | None) -> list[str]:
    """The names of the registered metrics that score predictions of kind ``scores``, sorted."""
    return [name for name, fn in METRICS.items() if fn.scores == scores]


for _name in METRICS.names():  # label_scores.py registers its functions without a kind
    METRICS.get(_name).scores = "labels"

# These register bleu, chrf, ter, meteor and meteor_1.5 (they need `metric` above), token_accuracy,
# span_f1, span_precision, span_recall and tag_macro_f1 (kind "tag_sequences"), and mse, mae and r2 (kind "numbers").
from seqpipe.metrics import meteor_jar, number_scores, tag_scores  # noqa: E402, F401, I001
from seqpipe.metrics.text_scores import meteor_backend, sentence_scores, signatures  # noqa: E402

__all__ = [
    "METRICS",
    "label_report",
    "confusion_matrix",
    "meteor_backend",
    "metric",
    "metric_names",
    "plot_confusion_matrix",
    "sentence_scores",
    "signatures",
]
