"""tf.data input pipelines: tokenize once, shuffle, bucket by length, pad on the right."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def length_boundaries(lengths: np.ndarray, buckets: int = 8) -> list[int]:
    """Bucket boundaries at length quantiles of the training data (strictly increasing)."""
    qs = np.quantile(lengths, np.linspace(0, 1, buckets + 1)[1:-1]) if len(lengths) else []
    return sorted({int(q) + 1 for q in qs if q >= 1})


def bucketed(ds: tf.data.Dataset, lengths: np.ndarray, batch_size: int, length_fn) -> tf.data.Dataset:
    """Batch by length bucket; the batch count is asserted so progress bars show N/N from epoch 1."""
    boundaries = length_boundaries(lengths)
    ds = ds.bucket_by_sequence_length(length_fn, boundaries, [batch_size] * (len(boundaries) + 1))
    per_bucket = np.bincount(np.searchsorted(boundaries, lengths, side="right"))
    return ds.apply(tf.data.experimental.assert_cardinality(int(np.ceil(per_bucket / batch_size).sum())))


def token_dataset(
    ids: tf.RaggedTensor,
    targets: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    bucketing: bool = False,
) -> tf.data.Dataset:
    """Batches of ``(right-padded ids, targets)`` from already tokenized examples.

    With ``shuffle``, the order changes every epoch (seeded). With ``bucketing``,
    examples of similar length are batched together (boundaries at length quantiles),
    which cuts padding; the order of examples is then not kept, so use it for training only.
    """
    rows = tf.data.Dataset.from_tensor_slices((ids.to_tensor(), ids.row_lengths(), targets))
    ds = rows.map(lambda x, n, y: (x[:n], y))
    if shuffle:
        ds = ds.shuffle(int(ids.nrows()), seed=seed, reshuffle_each_iteration=True)
    if bucketing:
        ds = bucketed(ds, ids.row_lengths().numpy(), batch_size, lambda x, y: tf.shape(x)[0])
    else:
        ds = ds.padded_batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)


def pair_dataset(
    source: tf.RaggedTensor,
    target_in: tf.RaggedTensor,
    target_out: tf.RaggedTensor,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    bucketing: bool = False,
) -> tf.data.Dataset:
    """Batches of ``((source ids, target_in ids), target_out ids)``, right-padded.

    With ``bucketing``, pairs are grouped by target length (the decoder loop's cost).
    """
    columns = [source, target_in, target_out]
    rows = tf.data.Dataset.from_tensor_slices(tuple(c.to_tensor() for c in columns)
                                              + tuple(c.row_lengths() for c in columns))
    ds = rows.map(lambda s, ti, to, ns, nti, nto: ((s[:ns], ti[:nti]), to[:nto]))
    if shuffle:
        ds = ds.shuffle(int(source.nrows()), seed=seed, reshuffle_each_iteration=True)
    if bucketing:
        ds = bucketed(ds, target_out.row_lengths().numpy(), batch_size, lambda x, y: tf.shape(y)[0])
    else:
        ds = ds.padded_batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)
