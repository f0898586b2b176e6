"""Sequence regression with TensorFlow: the head, training, evaluation, export and serving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.data.batching import token_dataset


def targets(frame: pd.DataFrame) -> np.ndarray:
    """The ``target`` column as float32 ``(rows, 1)`` (checked numeric by the task's ``check_data``)."""
    return frame["target"].to_numpy(dtype="float32").reshape(-1, 1)


def predict_values(model, encoder, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """One float per raw string, in input order."""
    ids = encoder.tokenize(tf.constant(texts))
    ds = token_dataset(ids, np.zeros((len(texts), 1), "float32"), batch_size).map(lambda x, y: x)
    return model.predict(ds, verbose=0).astype("float32")[:, 0]


def serving_function(model, encoder):
    """``text (batch,) -> {value}`` for a SavedModel signature."""

    def serve(text):
        return {"value": tf.cast(model(encoder(text), training=False), tf.float32)[:, 0]}

    return serve


def build_head(ctx, cfg) -> None:
    """The regress stage: masked pooling, optional hidden layer, one linear output.

    The output is rescaled by the training targets' mean and standard deviation (a fixed layer), so the
    untrained model predicts about the mean and the weights learn in unit scale whatever the target's units.
    """
    import keras

    from seqpipe.layers.pooling import MaskedPooling

    train = ctx["splits"]["train"]["target"].to_numpy(dtype="float64")
    mean, std = float(train.mean()), float(train.std())
    std = std if std > 0 else 1.0
    backward = ctx["encoder_layout"]["backward_units"] if cfg.pooling == "last" else 0
    x = MaskedPooling(cfg.pooling, backward_units=backward, name="pooling")(ctx["encoded"])
    if cfg.hidden_units:
        x = keras.layers.Dense(cfg.hidden_units, activation="relu", name="hidden")(x)
    if cfg.dropout:
        x = keras.layers.Dropout(cfg.dropout, name="output_dropout")(x)
    x = keras.layers.Dense(1, dtype="float32", name="standardized")(x)
    value = keras.layers.Rescaling(std, offset=mean, dtype="float32", name="value")(x)
    model = keras.Model(ctx["token_ids"], value, name=ctx.config.name.replace("-", "_"))
    ctx.log.info("model: %s parameters; training targets: mean %.4g, standard deviation %.4g",
                 f"{model.count_params():,}", mean, std)
    ctx.tracker.log_metrics({"parameters": model.count_params()})
    ctx.put("model", model)


def fit(ctx, cfg):
    import keras

    from seqpipe.train.fit import fit_model, make_optimizer

    model, encoder, splits = ctx["model"], ctx["encoder"], ctx["splits"]

    def dataset(split, **kwargs):
        frame = splits[split]
        return token_dataset(encoder.tokenize(frame["text"].tolist()), targets(frame), cfg.batch_size, **kwargs)

    train = dataset("train", shuffle=True, seed=ctx.config.seed, bucketing=cfg.bucketing)
    valid = dataset("valid") if len(splits["valid"]) else None
    model.compile(optimizer=make_optimizer(cfg.optimizer, cfg.clipnorm, cfg.clipvalue),
                  loss=keras.losses.MeanSquaredError(), metrics=[keras.metrics.MeanAbsoluteError(name="mae")])
    return fit_model(ctx, cfg, model, train, valid, [])


def evaluate(ctx, cfg, metrics: list[str]):
    """Per split: the metrics, ``<split>_mse_of_the_mean`` (always predicting the training mean), a predictions CSV."""
    from seqpipe.metrics import METRICS

    model, encoder = ctx["trained_model"], ctx["encoder"]
    train_mean = float(ctx["splits"]["train"]["target"].to_numpy(dtype="float64").mean())
    predictions = {}
    for split in cfg.splits:
        frame = ctx["splits"][split]
        if not len(frame):
            ctx.log.warning("evaluate: the %s split is empty; skipped", split)
            continue
        y_true = frame["target"].to_numpy(dtype="float64")
        y_pred = predict_values(model, encoder, frame["text"].tolist()).astype("float64")
        scores = {f"{split}_{m}": METRICS.get(m)(y_true, y_pred) for m in metrics}
        scores[f"{split}_mse_of_the_mean"] = float(np.mean((y_true - train_mean) ** 2))
        ctx.add_metrics(scores)
        table = pd.DataFrame({"text": frame["text"], "target": y_true, "prediction": y_pred})
        out = ctx.path("evaluation", f"{split}_predictions.csv")
        table.to_csv(out, index=False)
        ctx.tracker.log_artifact(out, "evaluation")
        predictions[split] = table
        ctx.log.info("%s: %s", split, ", ".join(f"{k}={v:.4f}" for k, v in ctx.metrics.items() if k.startswith(split)))
    return predictions


def export(ctx, path):
    """Save ``serving_default(text) -> {value}`` to ``path``."""
    import keras

    from seqpipe.export.saved_model import describe

    model, encoder = ctx["trained_model"], ctx["encoder"]
    encoder(tf.constant(["build"]))  # build before tracking
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(encoder)
    archive.add_endpoint("serving_default", serving_function(model, encoder),
                         input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.write_out(str(path), verbose=False)
    describe(path, ctx.config, "serving_default", "`value` (float32 [batch])", "One number per text.")
    return path


def predict_table(model, texts: list[str]) -> pd.DataFrame:
    """The predicted value of each text."""
    out = model.signatures["serving_default"](text=tf.constant(texts))
    return pd.DataFrame({"text": texts, "value": out["value"].numpy()})
