"""Metrics, registered by the kind of prediction they score.

Every function in :data:`METRICS` has a ``scores`` attribute: ``"labels"`` (``fn(y_true ids,
y_pred ids, n_classes)``), ``"texts"`` (``fn(hypotheses, references)``; those with ``several_references``
set take a list of references per hypothesis), ``"tag_sequences"`` (``fn(gold tag lists, predicted tag
lists)``) or ``"numbers"`` (``fn(true values, predicted values)``). A task declares which kind it
predicts (``Task.predicts``), which decides the metrics its pipelines may name (see :func:`metric_names`).
Importing this package stays light: sklearn, pandas, sacrebleu, nltk and Java run only when a metric is computed.
"""

from __future__ import annotations

# Importing the metric modules registers them: accuracy, macro_f1, ... (kind "labels"), bleu, chrf, ter, meteor and
# meteor_1.5 ("texts"), the COCO caption scores bleu_1..bleu_4, meteor_coco, rouge_l, cider_d ("texts", several
# references per example), token_accuracy, span_*, tag_macro_f1 ("tag_sequences"), mse, mae and r2 ("numbers").
from seqpipe.metrics import caption_scores, meteor_jar, number_scores, tag_scores  # noqa: F401 (registers them)
from seqpipe.metrics.label_scores import confusion_matrix, label_report, plot_confusion_matrix
from seqpipe.metrics.registry import METRICS, metric, metric_names
from seqpipe.metrics.text_scores import meteor_backend, sentence_scores, signatures

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
