"""Sequence-to-sequence translation: target ids, the loss, and compiled decoding of raw text."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from seqpipe.decoding import decode
from seqpipe.text import END_ID, START_ID


def target_ids(encoder, texts: list[str]) -> tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """``([START] y, y [END])`` with y truncated so both fit ``encoder.max_length``."""
    ids = encoder.tokenize(tf.constant(texts))[:, : encoder.max_length - 1]
    rows = ids.nrows()
    start = tf.fill([rows, 1], tf.constant(START_ID, tf.int64))
    end = tf.fill([rows, 1], tf.constant(END_ID, tf.int64))
    return tf.concat([start, ids], axis=1), tf.concat([ids, end], axis=1)


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
        return tf.reduce_sum(nll * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def token_accuracy(y_true, logits):
    """Share of non-padding target tokens predicted exactly (teacher forcing)."""
    y_true = tf.cast(y_true, tf.int32)
    mask = tf.cast(y_true != 0, tf.float32)
    hit = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), y_true), tf.float32)
    return tf.reduce_sum(hit * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


class Translator:
    """Raw source strings -> target strings with a decoding strategy, compiled with tf.function.

    ``encoder_model`` maps source ids to ``[memory, *final_states]``; ``decoder`` is the
    :class:`seqpipe.layers.decoder.AttentionDecoder` whose ``step`` drives the search.
    """

    def __init__(self, source_encoder, target_encoder, encoder_model, decoder, max_length: int):
        self.source_encoder, self.target_encoder = source_encoder, target_encoder
        self.encoder_model, self.decoder, self.max_length = encoder_model, decoder, int(max_length)
        self._compiled: dict = {}

    def search(self, text: tf.Tensor, decoding: dict) -> dict:
        """Graph-mode search on a string batch; returns decode()'s dict plus ``translations``."""
        ids = self.source_encoder(text)
        memory, *states = self.encoder_model(ids, training=False)
        state = self.decoder.initial_state(memory, ids != 0, states)
        out = decode(self.decoder.step, state, start_id=START_ID, end_id=END_ID,
                     max_length=self.max_length, **decoding)
        out["translations"] = self.target_encoder.detokenize(out["tokens"][:, 0])
        out["source_ids"] = ids
        return out

    def function(self, decoding: dict):
        """A tf.function over string batches for this decoding config (cached)."""
        key = tuple(sorted(decoding.items()))
        if key not in self._compiled:
            self._compiled[key] = tf.function(lambda text: self.search(text, decoding),
                                              input_signature=[tf.TensorSpec([None], tf.string)])
        return self._compiled[key]

    def translate(self, texts: list[str], decoding: dict, batch_size: int = 64) -> dict[str, list]:
        """Translate in batches (sorted by length for less padding); results in input order."""
        order = np.argsort([len(t) for t in texts], kind="stable")
        fn = self.function(decoding)
        results: dict[str, list] = {"translations": [None] * len(texts), "scores": [None] * len(texts),
                                    "attention": [None] * len(texts), "tokens": [None] * len(texts)}
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            out = fn(tf.constant([texts[i] for i in idx]))
            lengths = out["lengths"][:, 0].numpy()
            src_len = (out["source_ids"].numpy() != 0).sum(axis=1)
            for j, i in enumerate(idx):
                results["translations"][i] = out["translations"][j].numpy().decode("utf-8")
                results["scores"][i] = float(out["scores"][j, 0])
                results["tokens"][i] = out["tokens"][j, 0, : lengths[j]].numpy()
                results["attention"][i] = out["attention"][j, : lengths[j], : src_len[j]].numpy()
        return results
