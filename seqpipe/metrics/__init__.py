"""Metrics: classification scores over class ids, translation scores over sentences,
tagging scores over sentences of tags.

Every function in :data:`METRICS` has a ``task`` attribute, ``"classification"``,
``"translation"`` or ``"tagging"``, naming the predictions it scores (see
:func:`metric_names`). Importing this package stays light: sklearn, pandas, sacrebleu,
nltk and Java run only when a metric is computed.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from seqpipe.metrics.classification import (
    METRICS,
    classification_report,
    confusion_matrix,
    plot_confusion_matrix,
)

F = TypeVar("F", bound=Callable)


def metric(name: str, task: str) -> Callable[[F], F]:
    """Decorator: register the function in :data:`METRICS` as ``name``, tagged with ``task``."""

    def add(fn: F) -> F:
        fn.task = task
        METRICS.register(name, fn)
        return fn

    return add


def metric_names(task: str) -> list[str]:
    """The names of the registered metrics for ``task``, sorted."""
    return [name for name, fn in METRICS.items() if fn.task == task]


for _name in METRICS.names():  # classification.py registers its functions without a task
    METRICS.get(_name).task = "classification"

# Registers bleu, chrf, ter, meteor and meteor_1.5 (needs `metric` above).
from seqpipe.metrics import meteor_jar  # noqa: E402
from seqpipe.metrics.translation import meteor_backend, sentence_scores, signatures  # noqa: E402

# Registers token_accuracy, span_f1, span_precision, span_recall and tag_macro_f1 (task "tagging").
from seqpipe.metrics import tagging  # noqa: E402, F401

__all__ = [
    "METRICS",
    "classification_report",
    "confusion_matrix",
    "meteor_backend",
    "metric",
    "metric_names",
    "plot_confusion_matrix",
    "sentence_scores",
    "signatures",
]
