"""tf.data input pipelines: tokenize once, shuffle by epoch, bucket by length, pad on the right.

Training data is an :class:`EpochData`: the order of epoch ``e`` is a permutation seeded by
``(seed, e)`` and nothing else, so a run resumed at epoch ``e`` (even mid-epoch, by skipping the
batches it has seen) sees exactly the batches an uninterrupted run sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf


def length_boundaries(lengths: np.ndarray, buckets: int = 8) -> list[int]:
    """Bucket boundaries at length quantiles of the training data (strictly increasing)."""
    qs = np.quantile(lengths, np.linspace(0, 1, buckets + 1)[1:-1]) if len(lengths) else []
    return sorted({int(q) + 1 for q in qs if q >= 1})


def bucket_count(lengths: np.ndarray, batch_size: int) -> int:
    """How many batches :func:`bucketed` makes of examples with these lengths."""
    per_bucket = np.bincount(np.searchsorted(length_boundaries(lengths), lengths, side="right"))
    return int(np.ceil(per_bucket / batch_size).sum())


def bucketed(ds: tf.data.Dataset, lengths: np.ndarray, batch_size: int, length_fn) -> tf.data.Dataset:
    """Batch by length bucket; the batch count is asserted so progress bars show N/N from epoch 1."""
    boundaries = length_boundaries(lengths)
    ds = ds.bucket_by_sequence_length(length_fn, boundaries, [batch_size] * (len(boundaries) + 1))
    return ds.apply(tf.data.experimental.assert_cardinality(bucket_count(lengths, batch_size)))


@dataclass
class EpochData:
    """Training batches made epoch by epoch: ``epoch(e)`` is one epoch's batches, ``steps`` their number.

    The order of an epoch depends only on the seed and the epoch number (see :func:`epoch_order`),
    so any epoch can be rebuilt on its own.
    """

    epoch: Callable[[tf.Tensor], tf.data.Dataset]
    steps: int

    def stream(self, first: int, last: int) -> tf.data.Dataset:
        """Epochs ``first`` .. ``last - 1`` one after the other (for ``fit(steps_per_epoch=steps)``)."""
        epochs = tf.data.Dataset.range(first, last)
        return epochs.flat_map(self.epoch).prefetch(tf.data.AUTOTUNE)

    @classmethod
    def fixed(cls, ds: tf.data.Dataset) -> EpochData:
        """The same batches in the same order every epoch (e.g. stateful streams)."""
        steps = int(ds.cardinality())
        if steps < 0:
            raise ValueError("EpochData.fixed needs a dataset of known length")
        return cls(lambda epoch: ds, steps)


def epoch_order(n: int, seed: int, epoch) -> tf.Tensor:
    """A permutation of ``range(n)`` that depends only on ``(seed, epoch)`` (stateless)."""
    key = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.argsort(tf.random.stateless_uniform([n], seed=key))


def by_epoch(rows: Callable[[tf.Tensor], tuple], n: int, batch, *, seed: int, shuffle: bool = True) -> Callable:
    """``epoch -> batches``: the ``n`` rows (``rows(index)``) in epoch order, then ``batch(dataset)``."""
    def epoch(e):
        order = epoch_order(n, seed, e) if shuffle else tf.range(n)
        return batch(tf.data.Dataset.from_tensor_slices(order).map(rows))
    return epoch


def token_dataset(
    ids: tf.RaggedTensor,
    targets: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    bucketing: bool = False,
) -> tf.data.Dataset | EpochData:
    """Batches of ``(right-padded ids, targets)`` from already tokenized examples.

    With ``shuffle``, an :class:`EpochData` whose order changes every epoch (seeded by epoch).
    With ``bucketing``, examples of similar length are batched together (boundaries at length
    quantiles), which cuts padding; the order of examples is then not kept, so use it for training only.
    """
    x, lengths, y = ids.to_tensor(), ids.row_lengths(), tf.constant(targets)
    n = int(ids.nrows())

    def batch(ds):
        if bucketing:
            return bucketed(ds, lengths.numpy(), batch_size, lambda x, y: tf.shape(x)[0])
        return ds.padded_batch(batch_size)

    def rows(i):
        return x[i][: lengths[i]], y[i]

    if shuffle:
        steps = bucket_count(lengths.numpy(), batch_size) if bucketing else -(-n // batch_size)
        return EpochData(by_epoch(rows, n, batch, seed=seed), steps)
    return batch(tf.data.Dataset.range(n).map(rows)).prefetch(tf.data.AUTOTUNE)


def pair_dataset(
    source: tf.RaggedTensor,
    target_in: tf.RaggedTensor,
    target_out: tf.RaggedTensor,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    bucketing: bool = False,
) -> tf.data.Dataset | EpochData:
    """Batches of ``((source ids, target_in ids), target_out ids)``, right-padded.

    With ``bucketing``, pairs are grouped by target length (the decoder loop's cost). With ``shuffle``,
    an :class:`EpochData` as in :func:`token_dataset`.
    """
    columns = [c.to_tensor() for c in (source, target_in, target_out)]
    lengths = [c.row_lengths() for c in (source, target_in, target_out)]
    n = int(source.nrows())

    def rows(i):
        s, ti, to = (c[i][: length[i]] for c, length in zip(columns, lengths))
        return (s, ti), to

    def batch(ds):
        if bucketing:
            return bucketed(ds, lengths[2].numpy(), batch_size, lambda x, y: tf.shape(y)[0])
        return ds.padded_batch(batch_size)

    if shuffle:
        steps = bucket_count(lengths[2].numpy(), batch_size) if bucketing else -(-n // batch_size)
        return EpochData(by_epoch(rows, n, batch, seed=seed), steps)
    return batch(tf.data.Dataset.range(n).map(rows)).prefetch(tf.data.AUTOTUNE)
