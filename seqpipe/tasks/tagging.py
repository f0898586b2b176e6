"""Sequence labelling: tag ids, batches, the loss, and tagging raw whitespace-tokenised text.

Tag ids in the training targets are ``1..K`` (``labels[i]`` is stored as ``i + 1``) so that
0 marks padding; the model's outputs have K columns, one per label.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.data.batching import bucketed
from seqpipe.errors import DataError


def truncate(sentences: list[str], max_length: int) -> list[str]:
    """Keep the first ``max_length`` whitespace-separated items of each sentence (training only)."""
    return [" ".join(s.split()[:max_length]) for s in sentences]


def tag_ids(frame: pd.DataFrame, labels: list[str], split: str, max_length: int | None = None) -> list[list[int]]:
    """Tags as ids ``1..K``; a tag unseen in training is an error naming the row and the token."""
    index = {label: i + 1 for i, label in enumerate(labels)}
    out = []
    for row, tags in enumerate(frame["tags"].tolist()):
        ids = []
        for position, tag in enumerate(tags.split()[:max_length]):
            if tag not in index:
                raise DataError(f"{split} split row {row + 1}, token {position + 1}: tag {tag!r} does not occur in the "
                                f"training split; known tags: {', '.join(labels)}")
            ids.append(index[tag])
        out.append(ids)
    return out


def model_inputs(encoder, char_encoder, strings) -> dict:
    """The model's inputs for a batch of raw sentences (no truncation)."""
    ids = encoder.tokenize(strings, truncate=False)
    longest = tf.maximum(tf.cast(tf.reduce_max(ids.row_lengths()), tf.int32), 1)  # an all-empty batch keeps one (masked) step
    inputs = {"token_ids": tf.cast(ids.to_tensor(0, shape=tf.stack([tf.cast(ids.nrows(), tf.int32), longest])), tf.int32)}
    if char_encoder is not None:
        chars = char_encoder(strings)
        shape = tf.shape(chars)
        inputs["char_ids"] = tf.pad(chars, [[0, 0], [0, longest - shape[1]], [0, tf.maximum(1 - shape[2], 0)]])
    return inputs


def tagging_dataset(encoder, char_encoder, sentences: list[str], tags: list[list[int]], batch_size: int, *,
                    shuffle: bool = False, seed: int = 0, bucketing: bool = False) -> tf.data.Dataset:
    """Batches of ``({token_ids, char_ids}, tag ids)``, right-padded; tokenized per batch in the graph."""
    lengths = np.array([len(t) for t in tags], dtype="int64")
    ragged = tf.ragged.constant(tags, dtype=tf.int32, ragged_rank=1) if tags else tf.ragged.constant([[]], tf.int32)
    rows = tf.data.Dataset.from_tensor_slices((tf.constant(sentences, tf.string), ragged.to_tensor(0), lengths))
    ds = rows.map(lambda s, y, n: (s, y[:n]))
    if shuffle:
        ds = ds.shuffle(len(sentences), seed=seed, reshuffle_each_iteration=True)
    if bucketing:
        ds = bucketed(ds, lengths, batch_size, lambda s, y: tf.shape(y)[0])
    else:
        ds = ds.padded_batch(batch_size)

    def features(strings, y):
        inputs = model_inputs(encoder, char_encoder, strings)
        return inputs, tf.pad(y, [[0, 0], [0, tf.shape(inputs["token_ids"])[1] - tf.shape(y)[1]]])

    return ds.map(features, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


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


def tag_accuracy(y_true, outputs):
    """Share of real tokens whose highest-scoring tag is right (for a CRF: per-token, before Viterbi)."""
    hits, real = _hits(y_true, outputs)
    return tf.reduce_sum(hits) / tf.maximum(tf.reduce_sum(real), 1.0)


def _hits(y_true, outputs):
    y_true = tf.cast(y_true, tf.int32)
    real = tf.cast(y_true > 0, tf.float32)
    hit = tf.cast(tf.equal(tf.argmax(outputs, axis=-1, output_type=tf.int32) + 1, y_true), tf.float32)
    return hit * real, real


@keras.saving.register_keras_serializable(package="seqpipe")
class TagAccuracy(keras.metrics.Metric):
    """:func:`tag_accuracy` accumulated over batches token by token (padding never counts).

    Its own padding test (target 0) replaces the Keras output mask, which marks the same steps.
    """

    def __init__(self, name="token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.hits = self.add_variable(shape=(), initializer="zeros", name="hits")
        self.tokens = self.add_variable(shape=(), initializer="zeros", name="tokens")

    def update_state(self, y_true, y_pred, sample_weight=None):
        hits, real = _hits(y_true, y_pred)
        self.hits.assign_add(tf.reduce_sum(hits))
        self.tokens.assign_add(tf.reduce_sum(real))

    def result(self):
        return self.hits / tf.maximum(self.tokens, 1.0)


def crf_layer(model):
    """The model's CRF output layer, or None for a softmax tagger."""
    from seqpipe.layers.crf import CRF

    return next((layer for layer in model.layers if isinstance(layer, CRF)), None)


class Tagger:
    """Raw whitespace-tokenised sentences -> one tag per token (Viterbi when the model ends in a CRF)."""

    def __init__(self, model, encoder, char_encoder, labels: list[str]):
        self.model, self.encoder, self.char_encoder, self.labels = model, encoder, char_encoder, list(labels)
        self.crf = crf_layer(model)
        self._labels = tf.constant(self.labels)
        self._compiled = None

    def tag(self, strings) -> dict[str, tf.Tensor]:
        """``{tokens, tags}`` (string ``(batch, words)``, "" past the end) and ``length`` (int32 ``(batch,)``)."""
        strings = tf.convert_to_tensor(strings, tf.string)
        words = tf.strings.split(strings)
        length = tf.cast(words.row_lengths(), tf.int32)
        inputs = model_inputs(self.encoder, self.char_encoder, strings)
        mask = tf.sequence_mask(length, tf.shape(inputs["token_ids"])[1])
        outputs = tf.cast(self.model(inputs, training=False), tf.float32)
        if self.crf is not None:
            best, _ = self.crf.decode(outputs, mask)
        else:
            best = tf.argmax(outputs, axis=-1, output_type=tf.int32)
        longest = tf.reduce_max(tf.concat([length, [0]], 0))
        tags = tf.where(mask, tf.gather(self._labels, best), "")[:, :longest]
        return {"tokens": words.to_tensor(""), "tags": tags, "length": length}

    def tag_lists(self, sentences: list[str], batch_size: int = 256) -> list[list[str]]:
        """Python lists of tags for ``sentences``, in order (compiled once)."""
        if self._compiled is None:
            self._compiled = tf.function(self.tag, input_signature=[tf.TensorSpec([None], tf.string)])
        out: list[list[str]] = []
        for start in range(0, len(sentences), batch_size):
            result = self._compiled(tf.constant(sentences[start:start + batch_size]))
            tags, lengths = result["tags"].numpy(), result["length"].numpy()
            out.extend([t.decode("utf-8") for t in row[:n]] for row, n in zip(tags, lengths))
        return out
