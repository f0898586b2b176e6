"""Tagging data: tag ids, the model's in-graph inputs and batches of raw sentences.

Tag ids in the training targets are ``1..K`` (``labels[i]`` is stored as ``i + 1``) so that
0 marks padding; the model's outputs have K columns, one per label.
"""

from __future__ import annotations

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
    # an all-empty batch keeps one (masked) step
    longest = tf.maximum(tf.cast(tf.reduce_max(ids.row_lengths()), tf.int32), 1)
    inputs = {"token_ids": tf.cast(ids.to_tensor(0, shape=tf.stack([tf.cast(ids.nrows(), tf.int32), longest])),
                                   tf.int32)}
    if char_encoder is not None:
        chars = char_encoder(strings)
        shape = tf.shape(chars)
        inputs["char_ids"] = tf.pad(chars, [[0, 0], [0, longest - shape[1]], [0, tf.maximum(1 - shape[2], 0)]])
    return inputs


def tagging_dataset(encoder, char_encoder, sentences: list[str], tags: list[list[int]], batch_size: int, *,
                    shuffle: bool = False, seed: int = 0, bucketing: bool = False, batch_tokens: int | None = None):
    """Batches of ``({token_ids, char_ids}, tag ids)``, right-padded; tokenized per batch in the graph.

    With ``shuffle``, an :class:`seqpipe.data.batching.EpochData` (the order seeded by epoch); with
    ``batch_tokens`` too, token-budget batches (:func:`seqpipe.data.batching.token_budget_epochs`, words counted).
    """
    from seqpipe.data.batching import EpochData, bucket_count, by_epoch, token_budget_epochs

    lengths = np.array([len(t) for t in tags], dtype="int64")
    # from flat values: tf.ragged.constant takes minutes on long sentences (256 s for 18,000 x 221 tags)
    flat = np.fromiter((tag for sentence in tags for tag in sentence), dtype="int32", count=int(lengths.sum()))
    ragged = tf.RaggedTensor.from_row_lengths(flat, lengths) if tags else tf.ragged.constant([[]], tf.int32)
    strings, padded, lengths_t = tf.constant(sentences, tf.string), ragged.to_tensor(0), tf.constant(lengths)

    def rows(i):
        return strings[i], padded[i][: lengths_t[i]]

    def features(strings, y):
        inputs = model_inputs(encoder, char_encoder, strings)
        return inputs, tf.pad(y, [[0, 0], [0, tf.shape(inputs["token_ids"])[1] - tf.shape(y)[1]]])

    def batch(ds):
        if bucketing:
            ds = bucketed(ds, lengths, batch_size, lambda s, y: tf.shape(y)[0])
        else:
            ds = ds.padded_batch(batch_size)
        return ds.map(features, num_parallel_calls=tf.data.AUTOTUNE)

    if shuffle and batch_tokens is not None:
        return token_budget_epochs(rows, lengths, batch_tokens, seed=seed, finish=features)
    if shuffle:
        steps = bucket_count(lengths, batch_size) if bucketing else -(-len(sentences) // batch_size)
        return EpochData(by_epoch(rows, len(sentences), batch, seed=seed), steps)
    return batch(tf.data.Dataset.range(len(sentences)).map(rows)).prefetch(tf.data.AUTOTUNE)
