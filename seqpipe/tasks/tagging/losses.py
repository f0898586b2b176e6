"""The tagging loss and token accuracy over tag ids ``1..K`` (0 is padding)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="seqpipe")
class TagCrossEntropy(keras.losses.Loss):
    """Softmax cross-entropy averaged over the real tokens (target 0 is padding; tag i is i + 1).

    ``call`` gives each token its share of the batch mean (0 at padding) and the reduction
    sums them, so the value is the same whether or not Keras also applies the output's mask
    (a softmax tagger's scores carry the embedding's mask; 0/1 weights leave the sum alone).
    """

    def __init__(self, name="tag_cross_entropy", **kwargs):
        kwargs.setdefault("reduction", "sum")  # kept in get_config, so from_config passes it back
        super().__init__(name=name, **kwargs)

    def call(self, y_true, logits):
        y_true = tf.cast(y_true, tf.int32)
        mask = tf.cast(y_true > 0, tf.float32)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        nll = -tf.gather(log_probs, tf.maximum(y_true - 1, 0), batch_dims=2)
        return nll * mask / tf.maximum(tf.reduce_sum(mask), 1.0)


def tag_accuracy(y_true, outputs, ignore_ids=()):
    """Share of real tokens whose highest-scoring tag is right (for a CRF: per-token, before Viterbi).

    Tokens whose target id is in ``ignore_ids`` (tag ids ``1..K``) do not count.
    """
    hits, real = _hits(y_true, outputs, ignore_ids)
    return tf.reduce_sum(hits) / tf.maximum(tf.reduce_sum(real), 1.0)


def _hits(y_true, outputs, ignore_ids=()):
    y_true = tf.cast(y_true, tf.int32)
    counted = y_true > 0
    for tag_id in ignore_ids:
        counted = tf.logical_and(counted, tf.not_equal(y_true, int(tag_id)))
    real = tf.cast(counted, tf.float32)
    hit = tf.cast(tf.equal(tf.argmax(outputs, axis=-1, output_type=tf.int32) + 1, y_true), tf.float32)
    return hit * real, real


@keras.saving.register_keras_serializable(package="seqpipe")
class TagAccuracy(keras.metrics.Metric):
    """:func:`tag_accuracy` accumulated over batches token by token (padding never counts).

    Its own padding test (target 0) replaces the Keras output mask, which marks the same steps.
    Targets whose tag id is in ``ignore_ids`` do not count either (``train.ignore_tags``: e.g. the
    blanks of the copy problem, so that the metric is the accuracy on the steps that matter).
    """

    def __init__(self, name="token_accuracy", ignore_ids=(), **kwargs):
        super().__init__(name=name, **kwargs)
        self.ignore_ids = tuple(int(i) for i in ignore_ids)
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.tokens = self.add_variable(shape=(), initializer="zeros", name="tokens")

    def update_state(self, y_true, y_pred, sample_weight=None):
        hits, real = _hits(y_true, y_pred, self.ignore_ids)
        self.hits.assign_add(tf.reduce_sum(hits))
        self.tokens.assign_add(tf.reduce_sum(real))

    def result(self):
        return self.hits / tf.maximum(self.tokens, 1.0)

    def get_config(self):
        return {**super().get_config(), "ignore_ids": list(self.ignore_ids)}


def ignored_tag_ids(labels: list[str], ignore_tags) -> list[int]:
    """The target ids (``1..K``) of the tags in ``ignore_tags`` that occur in ``labels``."""
    return [labels.index(tag) + 1 for tag in dict.fromkeys(ignore_tags or ()) if tag in labels]
