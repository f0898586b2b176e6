"""The TensorFlow side shared by the pooled tasks (classification, regression): the head's layers, token
batches of whole sequences, running the model on raw strings, and the one-signature export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.data.batching import token_dataset
from seqpipe.tasks.base import TaskRuntime


def head_layers(x, cfg):
    """``cfg.hidden_units`` (a ReLU layer; 0: none) and ``cfg.dropout`` (0: none) on the features ``x``."""
    import keras

    if cfg.hidden_units:
        x = keras.layers.Dense(cfg.hidden_units, activation="relu", name="hidden")(x)
    if cfg.dropout:
        x = keras.layers.Dropout(cfg.dropout, name="output_dropout")(x)
    return x


def pooled_features(ctx, cfg):
    """The head's input: the encoded sequence pooled into one vector (``cfg.pooling``), then :func:`head_layers`."""
    from seqpipe.layers.pooling import MaskedPooling

    backward = ctx["encoder_layout"]["backward_units"] if cfg.pooling == "last" else 0
    return head_layers(MaskedPooling(cfg.pooling, backward_units=backward, name="pooling")(ctx["encoded"]), cfg)


def run_model(model, encoder, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """The model's float32 outputs for raw strings, in input order."""
    ids = encoder.tokenize(tf.constant(texts))
    ds = token_dataset(ids, np.zeros(len(texts), "int32"), batch_size).map(lambda x, y: x)
    return model.predict(ds, verbose=0).astype("float32")


class PooledRuntime(TaskRuntime):
    """Training and export of a model from ``roles[0]`` (the text) to one output per text.

    Subclasses give the targets (:meth:`targets`), the loss and epoch metrics (:meth:`compile_args`) and
    the serving outputs (:meth:`serving_outputs`, :meth:`describe_args`).
    """

    def targets(self, ctx, frame: pd.DataFrame, split: str) -> np.ndarray:
        raise NotImplementedError

    def compile_args(self, ctx) -> dict:
        """``loss`` and ``metrics`` for ``model.compile``."""
        raise NotImplementedError

    def serving_outputs(self, ctx, outputs, answered) -> dict:
        """The signature's outputs from the model's float32 outputs for a batch of strings; where ``answered``
        (bool ``[batch]``) is False the text has no known token and gets the task's no-prediction values."""
        raise NotImplementedError

    def describe_args(self, ctx) -> dict:
        """Keyword arguments of :func:`seqpipe.export.saved_model.describe` besides the path, config and signature."""
        raise NotImplementedError

    def fit(self, ctx, cfg):
        from seqpipe.train.fit import fit_model, make_optimizer

        model, encoder, splits = ctx["model"], ctx["encoder"], ctx["splits"]
        text = self.task.roles[0]

        def dataset(split, **kwargs):
            frame = splits[split]
            ids = encoder.tokenize(frame[text].tolist())
            return token_dataset(ids, self.targets(ctx, frame, split), cfg.batch_size, **kwargs)

        train = dataset("train", shuffle=True, seed=ctx.config.seed, bucketing=cfg.bucketing,
                        batch_tokens=cfg.batch_tokens)
        valid = dataset("valid") if len(splits["valid"]) else None
        model.compile(optimizer=make_optimizer(cfg.optimizer, cfg.clipnorm, cfg.clipvalue, clip_scope=cfg.clip_scope),
                      **self.compile_args(ctx))
        return fit_model(ctx, cfg, model, train, valid, [])

    def outputs(self, ctx, frame: pd.DataFrame) -> np.ndarray:
        """The trained model's outputs for the texts of ``frame``."""
        return run_model(ctx["trained_model"], ctx["encoder"], frame[self.task.roles[0]].tolist())

    def export(self, ctx, cfg, path):
        """Save ``serving_default(text) -> {...}`` (the subclass's outputs) to ``path``."""
        from seqpipe.export.saved_model import describe, save_signatures

        model, encoder = ctx["trained_model"], ctx["encoder"]

        def serve(text):
            known = encoder.known_tokens(text)
            outputs = tf.cast(model(encoder(text), training=False), tf.float32)
            return {**self.serving_outputs(ctx, outputs, known > 0), "known_tokens": known}

        save_signatures(path, [model, encoder], {"serving_default": serve})
        describe(path, ctx.config, "serving_default", **self.describe_args(ctx))
        return path
