"""Token-level loss and accuracy for models that predict a token at every position (id 0 is padding)."""

from __future__ import annotations

import keras
import tensorflow as tf

import seqpipe.train.schedules  # noqa: F401  (registers the learning-rate schedules that model.keras may name)


@keras.saving.register_keras_serializable(package="seqpipe")
class MaskedCrossEntropy(keras.losses.Loss):
    """Token cross-entropy over non-padding targets (id 0 ignored), with optional label smoothing."""

    def __init__(self, label_smoothing: float = 0.0, name="masked_cross_entropy", **kwargs):
        kwargs.setdefault("reduction", "sum_over_batch_size")  # kept in get_config, so from_config passes it back
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, logits):
        y_true = tf.cast(y_true, tf.int32)
        mask = tf.cast(y_true != 0, tf.float32)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        nll = -tf.gather(log_probs, y_true, batch_dims=2)
        if self.label_smoothing:
            nll = (1 - self.label_smoothing) * nll - self.label_smoothing * tf.reduce_mean(log_probs, axis=-1)
        return _token_mean(tf.reduce_sum(nll * mask), tf.reduce_sum(mask))

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def _token_mean(total, count):
    """``total / count`` over the global batch. Under tf.distribute each replica holds part of the batch, with
    its own number of real tokens, and the replicas' gradients are summed; Keras leaves a scalar loss unscaled,
    so dividing each replica's sum by the token count of all replicas makes that sum the one-device gradient
    (a replica's own count would weight short-sentence replicas up and make the sum ~replicas x too large)."""
    replica = tf.distribute.get_replica_context()
    if replica is not None and replica.num_replicas_in_sync > 1:
        count = replica.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return total / tf.maximum(count, 1.0)


def token_accuracy(y_true, logits):
    """Share of non-padding target tokens predicted exactly (teacher forcing)."""
    y_true = tf.cast(y_true, tf.int32)
    mask = tf.cast(y_true != 0, tf.float32)
    hit = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), y_true), tf.float32)
    return tf.reduce_sum(hit * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def compile_token_model(model, cfg, label_smoothing: float = 0.0) -> None:
    """Compile a model with next-token logits: masked cross-entropy and token accuracy."""
    from seqpipe.train.fit import make_optimizer

    model.compile(optimizer=make_optimizer(cfg.optimizer, cfg.clipnorm, cfg.clipvalue, clip_scope=cfg.clip_scope),
                  loss=MaskedCrossEntropy(label_smoothing),
                  metrics=[keras.metrics.MeanMetricWrapper(token_accuracy, name="token_accuracy")])
