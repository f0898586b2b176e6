"""tf.data input pipelines: tokenize once, shuffle by epoch, bucket by length, pad on the right.

Training data is an :class:`EpochData`: the order of epoch ``e`` is a permutation seeded by
``(seed, e)`` and nothing else, so a run resumed at epoch ``e`` (even mid-epoch, by skipping the
batches it has seen) sees exactly the batches an uninterrupted run sees.

Batches hold ``batch_size`` examples, or, with a token budget (``train.batch_tokens``, see
:func:`token_budget_epochs`), as many examples as fit in N padded tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
    steps: int | None  # None: not known before a first pass (a stream); fit_model counts it then
    batch_tokens: int | None = None  # the token budget of every batch, when batches are made by tokens
    callbacks: list = field(default_factory=list)  # Keras callbacks the data needs during fit (a stream's counters)
    bad_row: Callable[[BaseException], Exception | None] | None = None  # a stream's error -> one-line DataError
    distribute: Callable | None = None  # makes a tf.distribute input of a dataset (a worker's own shards), if set

    def stream(self, first: int, last: int) -> tf.data.Dataset:
        """Epochs ``first`` .. ``last - 1`` one after the other (for ``fit(steps_per_epoch=steps)``)."""
        epochs = tf.data.Dataset.range(first, last)
        return epochs.flat_map(self.epoch).prefetch(tf.data.AUTOTUNE).with_options(data_sharding())

    @classmethod
    def fixed(cls, ds: tf.data.Dataset) -> EpochData:
        """The same batches in the same order every epoch (e.g. stateful streams)."""
        steps = int(ds.cardinality())
        if steps < 0:
            raise ValueError("EpochData.fixed needs a dataset of known length")
        return cls(lambda epoch: ds, steps)


def data_sharding() -> tf.data.Options:
    """Options that make tf.distribute shard training batches by element (DATA): under MultiWorkerMirroredStrategy
    every worker reads the same batches and trains on its slice of each global batch, so the workers' batches add
    up to the one-worker run's. (By file, workers would get unequal batch counts, on which the strategy cannot end
    an epoch; a stream's tf.data graph would also make tf.distribute try that.)"""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def epoch_order(n: int, seed: int, epoch) -> tf.Tensor:
    """A permutation of ``range(n)`` that depends only on ``(seed, epoch)`` (stateless)."""
    key = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.argsort(tf.random.stateless_uniform([n], seed=key))


def token_batch_splits(lengths: np.ndarray, budget: int) -> np.ndarray:
    """Row splits of token-budget batches over the examples sorted by length.

    Walking the sorted lengths, a batch takes examples while ``longest x rows <= budget`` (an empty example
    counts as one token). The splits depend only on the multiset of lengths, not on the order of equal
    lengths, so every epoch has the same batches per epoch whatever its shuffled order.
    """
    ordered = np.maximum(np.sort(np.asarray(lengths, dtype=np.int64)), 1)
    if len(ordered) and ordered[-1] > budget:
        from seqpipe.errors import SeqpipeError

        raise SeqpipeError(f"train.batch_tokens ({budget}) is smaller than the longest training example "
                           f"({ordered[-1]} tokens); raise it to at least {ordered[-1]} or lower tokenize.max_length")
    splits, rows = [0], 0
    for i, length in enumerate(ordered.tolist()):
        if rows and (rows + 1) * length > budget:
            splits.append(i)
            rows = 0
        rows += 1
    if len(ordered):
        splits.append(len(ordered))
    return np.asarray(splits, dtype=np.int64)


def token_budget_epochs(rows: Callable[[tf.Tensor], tuple], lengths: np.ndarray, budget: int, *, seed: int,
                        finish: Callable | None = None) -> EpochData:
    """Token-budget training batches (``train.batch_tokens``), built epoch by epoch.

    Epoch ``e``: the examples in :func:`epoch_order` ``(seed, e)`` are sorted by length (a stable sort,
    so the epoch order breaks ties), cut at :func:`token_batch_splits` (fixed, so ``steps`` is known),
    and the batches are served in an order seeded by ``(seed, e)`` too: nothing but the seed and the
    epoch number decides an epoch, so a resumed run sees the batches an uninterrupted one sees. Each
    batch is its examples' ``rows(index)`` right-padded to its longest, then ``finish`` (if given).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    splits = token_batch_splits(lengths, budget)
    steps = len(splits) - 1
    lengths_t, splits_t = tf.constant(lengths), tf.constant(splits)

    def batch_of(indices):
        return tf.data.Dataset.from_tensor_slices(indices).map(rows).padded_batch(max(n, 1))

    def epoch(e):
        rank = tf.cast(tf.math.invert_permutation(epoch_order(n, seed, e)), tf.int64)
        by_length = tf.argsort(lengths_t * n + rank, stable=True)  # by length; ties in the epoch's order
        batches = tf.RaggedTensor.from_row_splits(tf.cast(by_length, tf.int64), splits_t)
        key = tf.random.experimental.stateless_fold_in(tf.stack([tf.constant(seed, tf.int64),
                                                                 tf.cast(e, tf.int64)]), 1)
        served = tf.gather(batches, tf.argsort(tf.random.stateless_uniform([steps], seed=key)))
        ds = tf.data.Dataset.from_tensor_slices(served).flat_map(batch_of)
        return ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE) if finish is not None else ds

    return EpochData(epoch, steps, batch_tokens=budget)


def by_epoch(rows: Callable[[tf.Tensor], tuple], n: int, batch, *, seed: int, shuffle: bool = True) -> Callable:
    """``epoch -> batches``: the ``n`` rows (``rows(index)``) in epoch order, then ``batch(dataset)``."""
    def epoch(e):
        order = epoch_order(n, seed, e) if shuffle else tf.range(n)
        return batch(tf.data.Dataset.from_tensor_slices(order).map(rows))
    return epoch


class PackedIds:
    """A column of token-id rows kept unpadded for tf.data: the ids of all rows end to end as int32 (4 bytes
    per token, not ``rows x longest x 8``) and the row offsets; :meth:`row` gives row ``i`` in the
    column's own dtype."""

    def __init__(self, ids: tf.RaggedTensor):
        self.dtype = ids.dtype
        self.values = tf.cast(ids.flat_values, tf.int32)
        self.splits = ids.row_splits
        self.lengths = ids.row_lengths()

    def row(self, i):
        return tf.cast(self.values[self.splits[i]: self.splits[i + 1]], self.dtype)


def token_dataset(
    ids: tf.RaggedTensor,
    targets: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    bucketing: bool = False,
    batch_tokens: int | None = None,
) -> tf.data.Dataset | EpochData:
    """Batches of ``(right-padded ids, targets)`` from already tokenized examples.

    With ``shuffle``, an :class:`EpochData` whose order changes every epoch (seeded by epoch).
    With ``bucketing``, examples of similar length are batched together (boundaries at length
    quantiles), which cuts padding; the order of examples is then not kept, so use it for training only.
    With ``batch_tokens`` (training only: with ``shuffle``), token-budget batches
    (:func:`token_budget_epochs`) instead of ``batch_size`` examples.
    """
    x, y = PackedIds(ids), tf.constant(targets)
    lengths, n = x.lengths, int(ids.nrows())
    if batch_tokens is not None and not shuffle:
        raise ValueError("batch_tokens makes training batches: give shuffle=True")

    def batch(ds):
        if bucketing:
            return bucketed(ds, lengths.numpy(), batch_size, lambda x, y: tf.shape(x)[0])
        return ds.padded_batch(batch_size)

    def rows(i):
        return x.row(i), y[i]

    if shuffle and batch_tokens is not None:
        return token_budget_epochs(rows, lengths.numpy(), batch_tokens, seed=seed)
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
    batch_tokens: int | None = None,
) -> tf.data.Dataset | EpochData:
    """Batches of ``((source ids, target_in ids), target_out ids)``, right-padded.

    With ``bucketing``, pairs are grouped by target length (the decoder loop's cost). With ``shuffle``,
    an :class:`EpochData` as in :func:`token_dataset`; ``batch_tokens`` budgets target tokens.
    """
    columns = [PackedIds(c) for c in (source, target_in, target_out)]
    lengths = [c.lengths for c in columns]
    n = int(source.nrows())
    if batch_tokens is not None and not shuffle:
        raise ValueError("batch_tokens makes training batches: give shuffle=True")

    def rows(i):
        s, ti, to = (c.row(i) for c in columns)
        return (s, ti), to

    def batch(ds):
        if bucketing:
            return bucketed(ds, lengths[2].numpy(), batch_size, lambda x, y: tf.shape(y)[0])
        return ds.padded_batch(batch_size)

    if shuffle and batch_tokens is not None:
        return token_budget_epochs(rows, lengths[2].numpy(), batch_tokens, seed=seed)
    if shuffle:
        steps = bucket_count(lengths[2].numpy(), batch_size) if bucketing else -(-n // batch_size)
        return EpochData(by_epoch(rows, n, batch, seed=seed), steps)
    return batch(tf.data.Dataset.range(n).map(rows)).prefetch(tf.data.AUTOTUNE)


def _dense(t):
    """One example's ids from an unbatched ragged batch (a ragged row of rank 0) as a plain tensor."""
    return t.flat_values if isinstance(t, tf.RaggedTensor) else t


def stream_epochs(split, tokenize: Callable, length_fn: Callable, batch_size: int, *, bucketing: bool,
                  batch_tokens: int | None, longest: int, ctx) -> EpochData:
    """Training batches of a :class:`seqpipe.data.stream.StreamedSplit`, made in the stream.

    Epoch ``e`` reads the split's rows in its seeded order (:meth:`StreamedSplit.rows`), tokenizes them inside
    the tf.data graph with ``tokenize`` (a batch of rows ``{role: strings}`` -> the examples' ragged tensors, the
    same in-graph tokenizers the exported model holds), then batches by length bucket (boundaries at the length
    quantiles of 4,096 rows of the vocabulary sample, a uniform sample), by token budget (``batch_tokens``: each
    bucket's batch holds as many examples as fit in the budget at the bucket's longest length) or in plain
    ``batch_size`` batches. The number of batches per epoch is not known before the first pass (``steps`` is
    None; :func:`seqpipe.train.fit.fit_model` counts it then), except on several workers reading their own shards
    (see docs/data.md). Bad rows stop the stream or are counted (:class:`seqpipe.data.stream.SkipCounter`).
    """
    from seqpipe.data.stream import LENGTH_ROWS, SkipCounter

    workers, worker = worker_of(tf.distribute.get_strategy())
    by_file = workers > 1 and len(split.shards) >= workers
    whole = split
    if by_file:  # this worker reads its own shards, in batches of its share of the global batch
        groups = balance(split.count_rows(), workers)
        split = replace(split, shards=tuple(whole.shards[i] for i in groups[worker]), shard_rows=None)
        batch_size = max(1, batch_size // workers)
        batch_tokens = max(1, batch_tokens // workers) if batch_tokens is not None else None
    counter = SkipCounter(split, ctx) if split.on_error == "skip" else None

    def tokenized(rows: tf.data.Dataset) -> tf.data.Dataset:
        examples = rows.batch(1024).map(tokenize, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
        return examples.map(lambda *x: tf.nest.map_structure(_dense, x if len(x) > 1 else x[0]))

    def examples(e):
        return tokenized(split.rows(e, counter.counts if counter is not None else None))

    if split.length_rows:  # boundaries from the vocabulary sample's rows (uniform over the split)
        columns = {role: [row[i] for row in split.length_rows] for i, role in enumerate(split.roles)}
        lengths = np.array([int(length_fn(*x)) for x in tokenized(tf.data.Dataset.from_tensor_slices(columns))])
    else:  # (the vocabulary came from the stage cache) from the first rows of epoch 0
        try:
            lengths = np.array([int(length_fn(*x)) for x in examples(0).take(LENGTH_ROWS)])
        except tf.errors.OpError as exc:
            raise (split.bad_row(exc) or exc) from None
    boundaries = length_boundaries(lengths)
    uppers = [*boundaries, max(longest, *(lengths.tolist() or [1])) + 1]
    sizes = ([max(1, batch_tokens // max(upper - 1, 1)) for upper in uppers] if batch_tokens is not None
             else [batch_size] * len(uppers))
    steps = None
    if by_file:  # every worker must run as many batches: as many as the smallest share surely gives
        rows = whole.count_rows()
        steps = max(1, min(sum(rows[i] for i in group) for group in groups) // max(sizes))
        ctx.log.info("multi-worker streaming: worker %d reads %d of %d shards (by file), %s rows; %d batches of at "
                     "most %d examples per epoch on every worker", worker, len(groups[worker]), len(whole.shards),
                     f"{sum(rows[i] for i in groups[worker]):,}", steps, max(sizes))

    def epoch(e):
        ds = examples(e)
        if batch_tokens is not None or bucketing:
            ds = ds.bucket_by_sequence_length(length_fn, boundaries, sizes)
        else:
            ds = ds.padded_batch(batch_size)
        if steps is not None:
            return ds.take(steps).prefetch(tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE).with_options(data_sharding())

    distribute = None
    if by_file:
        strategy = tf.distribute.get_strategy()

        def distribute(ds):  # the worker's batches as they are: no resharding, no rebatching
            return strategy.distribute_datasets_from_function(lambda _: ds)
    return EpochData(epoch, steps, batch_tokens=batch_tokens, callbacks=[counter] if counter is not None else [],
                     bad_row=split.bad_row, distribute=distribute)


def worker_of(strategy) -> tuple[int, int]:
    """``(workers, this worker's index)`` under MultiWorkerMirroredStrategy, else ``(1, 0)``."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1, 0
    resolver = strategy.cluster_resolver
    return resolver.cluster_spec().num_tasks(resolver.task_type), int(resolver.task_id)


def balance(rows: list[int], workers: int) -> list[list[int]]:
    """Shard indices per worker: the largest shards first, each to the worker with the fewest rows so far."""
    groups: list[list[int]] = [[] for _ in range(workers)]
    totals = [0] * workers
    for shard in sorted(range(len(rows)), key=lambda i: (-rows[i], i)):
        w = totals.index(min(totals))
        groups[w].append(shard)
        totals[w] += rows[shard]
    return [sorted(group) for group in groups]
