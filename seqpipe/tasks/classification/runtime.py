"""Sequence classification with TensorFlow: the head, label ids, training, evaluation, export and serving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.data.batching import token_dataset
from seqpipe.errors import DataError


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


def predict_proba(model, encoder, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """Class probabilities for raw strings, in input order."""
    ids = encoder.tokenize(tf.constant(texts))
    ds = token_dataset(ids, np.zeros(len(texts), "int32"), batch_size).map(lambda x, y: x)
    return model.predict(ds, verbose=0).astype("float32")


def serving_function(model, encoder, labels: list[str]):
    """``text (batch,) -> {label, label_id, probabilities}`` for a SavedModel signature."""
    names = tf.constant(labels)

    def serve(text):
        probabilities = tf.cast(model(encoder(text), training=False), tf.float32)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"label": tf.gather(names, label_id), "label_id": label_id, "probabilities": probabilities}

    return serve


def build_head(ctx, cfg) -> None:
    """The classify stage: masked pooling, optional hidden layer, softmax over the training split's labels."""
    import keras

    from seqpipe.layers.pooling import MaskedPooling

    labels = sorted(set(ctx["splits"]["train"]["label"]))
    backward = ctx["encoder_layout"]["backward_units"] if cfg.pooling == "last" else 0
    x = MaskedPooling(cfg.pooling, backward_units=backward, name="pooling")(ctx["encoded"])
    if cfg.hidden_units:
        x = keras.layers.Dense(cfg.hidden_units, activation="relu", name="hidden")(x)
    if cfg.dropout:
        x = keras.layers.Dropout(cfg.dropout, name="output_dropout")(x)
    probs = keras.layers.Dense(len(labels), activation="softmax", dtype="float32", name="probabilities")(x)
    model = keras.Model(ctx["token_ids"], probs, name=ctx.config.name.replace("-", "_"))
    ctx.log.info("model: %s parameters, classes: %s", f"{model.count_params():,}", ", ".join(labels))
    ctx.tracker.log_metrics({"parameters": model.count_params()})
    ctx.put("labels", labels)
    ctx.put("model", model)


def fit(ctx, cfg):
    import keras

    from seqpipe.train.fit import fit_model, make_optimizer

    model, encoder, labels, splits = ctx["model"], ctx["encoder"], ctx["labels"], ctx["splits"]
    seed = ctx.config.seed

    def dataset(split, **kwargs):
        frame = splits[split]
        ids = encoder.tokenize(frame["text"].tolist())
        return token_dataset(ids, label_ids(frame, labels, split), cfg.batch_size, **kwargs)

    train = dataset("train", shuffle=True, seed=seed, bucketing=cfg.bucketing, batch_tokens=cfg.batch_tokens)
    valid = dataset("valid") if len(splits["valid"]) else None
    model.compile(
        optimizer=make_optimizer(cfg.optimizer, cfg.clipnorm, cfg.clipvalue),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return fit_model(ctx, cfg, model, train, valid, [])


def evaluate(ctx, cfg, metrics: list[str]):
    """Per split: the metrics, a predictions CSV, a per-class report (also MLflow metrics) and a confusion matrix."""
    from seqpipe.metrics import METRICS
    from seqpipe.metrics.label_scores import confusion_matrix, label_report, plot_confusion_matrix
    from seqpipe.metrics.per_label import log_per_label, with_metric_keys

    model, encoder, labels = ctx["trained_model"], ctx["encoder"], ctx["labels"]
    predictions = {}
    for split in cfg.splits:
        frame = ctx["splits"][split]
        if not len(frame):
            ctx.log.warning("evaluate: the %s split is empty; skipped", split)
            continue
        y_true = label_ids(frame, labels, split)
        probs = predict_proba(model, encoder, frame["text"].tolist())
        y_pred = probs.argmax(axis=1)
        ctx.add_metrics({f"{split}_{m}": METRICS.get(m)(y_true, y_pred, len(labels)) for m in metrics})

        table = pd.DataFrame({"text": frame["text"], "label": frame["label"],
                              "predicted": [labels[i] for i in y_pred], "confidence": probs.max(axis=1)})
        for i, label in enumerate(labels):
            table[f"p_{label}"] = probs[:, i]
        out = ctx.path("evaluation", f"{split}_predictions.csv")
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
        predictions[split] = table
        ctx.log.info("%s: %s", split, ", ".join(f"{k}={v:.4f}" for k, v in ctx.metrics.items() if k.startswith(split)))
    return predictions


def export(ctx, path):
    """Save ``serving_default(text) -> {label, label_id, probabilities}`` to ``path``."""
    import keras

    from seqpipe.export.saved_model import describe

    model, encoder, labels = ctx["trained_model"], ctx["encoder"], ctx["labels"]
    encoder(tf.constant(["build"]))  # build before tracking
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(encoder)
    archive.add_endpoint("serving_default", serving_function(model, encoder, labels),
                         input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.write_out(str(path), verbose=False)
    outputs = "`label` (string [batch]), `label_id` (int32 [batch]), `probabilities` (float32 [batch, classes])"
    describe(path, ctx.config, "serving_default", outputs, f"Labels: {', '.join(labels)}", labels=labels)
    return path


def predict_table(model, texts: list[str], meta: dict) -> pd.DataFrame:
    """label, confidence and p_<label> per text."""
    out = model.signatures["serving_default"](text=tf.constant(texts))
    labels = meta.get("labels")
    probs = out["probabilities"].numpy()
    table = pd.DataFrame({"text": texts, "label": [b.decode("utf-8") for b in out["label"].numpy()],
                          "confidence": probs.max(axis=1)})
    for i in range(probs.shape[1]):
        table[f"p_{labels[i] if labels else i}"] = probs[:, i]
    return table
