"""Sequence classification with TensorFlow: the head, label ids, the evaluation table, export and serving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.errors import DataError
from seqpipe.tasks.pooled.runtime import PooledRuntime, pooled_features


def label_ids(frame: pd.DataFrame, labels: list[str], split: str) -> np.ndarray:
    """Map label strings to ids; a label unseen in training is an error naming the row."""
    index = {label: i for i, label in enumerate(labels)}
    ids = frame["label"].map(index)
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataError(
            f"{split} split row {row + 1}: label {frame['label'].iloc[row]!r} does not occur in the "
            f"training split; known labels: {', '.join(labels)}"
        )
    return ids.to_numpy(dtype="int32")


def true_and_predicted(table: pd.DataFrame, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The label ids of an evaluation table's ``label`` and ``predicted`` columns."""
    index = {label: i for i, label in enumerate(labels)}
    return table["label"].map(index).to_numpy(), table["predicted"].map(index).to_numpy()


class ClassificationRuntime(PooledRuntime):
    """Softmax over the training split's labels; accuracy/F1, a per-class report and a confusion matrix."""

    def build_head(self, ctx, cfg) -> None:
        """The classify stage: masked pooling, optional hidden layer, softmax over the training split's labels."""
        import keras

        labels = sorted(set(ctx["splits"]["train"]["label"]))
        x = pooled_features(ctx, cfg)
        probs = keras.layers.Dense(len(labels), activation="softmax", dtype="float32", name="probabilities")(x)
        model = keras.Model(ctx["token_ids"], probs, name=ctx.config.name.replace("-", "_"))
        ctx.log.info("model: %s parameters, classes: %s", f"{model.count_params():,}", ", ".join(labels))
        ctx.tracker.log_metrics({"parameters": model.count_params()})
        ctx.put("labels", labels)
        ctx.put("model", model)

    def targets(self, ctx, frame, split):
        return label_ids(frame, ctx["labels"], split)

    def compile_args(self, ctx):
        import keras

        return {"loss": keras.losses.SparseCategoricalCrossentropy(),
                "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}

    def evaluation_table(self, ctx, cfg, split):
        """The split's rows with ``predicted``, ``confidence`` and ``p_<label>`` per class."""
        labels, frame = ctx["labels"], ctx["splits"][split]
        label_ids(frame, labels, split)  # a label unseen in training stops here, naming its row
        probs = self.outputs(ctx, frame)
        table = frame.reset_index(drop=True).copy()
        table["predicted"] = [labels[i] for i in probs.argmax(axis=1)]
        table["confidence"] = probs.max(axis=1)
        for i, label in enumerate(labels):
            table[f"p_{label}"] = probs[:, i]
        return table

    def score(self, ctx, cfg, table):
        from seqpipe.metrics import METRICS

        labels = ctx["labels"]
        y_true, y_pred = true_and_predicted(table, labels)
        return {m: METRICS.get(m)(y_true, y_pred, len(labels)) for m in cfg.metrics or self.task.default_metrics}

    def write_report(self, ctx, cfg, split, table):
        """The predictions CSV, a per-class report (also MLflow metrics) and a confusion matrix."""
        from seqpipe.metrics.label_scores import confusion_matrix, label_report, plot_confusion_matrix
        from seqpipe.metrics.per_label import log_per_label, with_metric_keys

        labels = ctx["labels"]
        y_true, y_pred = true_and_predicted(table, labels)
        out = ctx.path("evaluation", self.task.evaluation_file.format(split=split))
        table.to_csv(out, index=False)
        report = ctx.path("evaluation", f"{split}_report.csv")
        per_class = with_metric_keys(label_report(y_true, y_pred, labels), split, labels)
        per_class.to_csv(report)
        log_per_label(ctx, split, per_class, labels)
        png = plot_confusion_matrix(confusion_matrix(y_true, y_pred, len(labels)), labels,
                                    ctx.path("evaluation", f"{split}_confusion_matrix.png"),
                                    title=f"{ctx.config.name}: {split} split")
        for path in (out, report, png):
            ctx.tracker.log_artifact(path, "evaluation")

    def serving_outputs(self, ctx, probabilities, answered):
        """No known token: label "", label_id -1, probabilities NaN (docs/serving.md#empty-and-unknown-input)."""
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"label": tf.where(answered, tf.gather(tf.constant(ctx["labels"]), label_id), ""),
                "label_id": tf.where(answered, label_id, -1),
                "probabilities": tf.where(answered[:, None], probabilities, float("nan"))}

    def describe_args(self, ctx):
        labels = ctx["labels"]
        return {"outputs": "`label` (string [batch]), `label_id` (int32 [batch]), `probabilities` (float32 "
                           "[batch, classes]), `known_tokens` (int32 [batch]); a text with no known token gets "
                           "label \"\", label_id -1 and NaN probabilities",
                "extra": f"Labels: {', '.join(labels)}", "labels": labels}

