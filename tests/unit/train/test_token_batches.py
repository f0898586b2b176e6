"""Token-budget batches (train.batch_tokens): the budget holds, every example once, known steps, seeded order."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from seqpipe.data.batching import token_batch_splits, token_dataset
from seqpipe.errors import SeqpipeError


def ragged(lengths):
    return tf.RaggedTensor.from_row_lengths(tf.range(1, int(np.sum(lengths)) + 1, dtype=tf.int64), lengths)


def test_the_splits_are_the_greedy_cut_of_the_sorted_lengths():
    np.testing.assert_array_equal(token_batch_splits(np.array([5, 1, 2, 2, 3, 5]), 6), [0, 3, 4, 5, 6])
    # sorted: 1 2 2 (3 x 2 = 6 fits) | 3 (2 x 5 = 10 does not) | 5 | 5
    np.testing.assert_array_equal(token_batch_splits(np.array([2, 3, 3, 1]), 9), [0, 3, 4])  # 3 x 3 = 9 fits
    np.testing.assert_array_equal(token_batch_splits(np.array([0, 0, 4]), 4), [0, 2, 3])  # empty rows count as 1
    with pytest.raises(SeqpipeError) as err:
        token_batch_splits(np.array([3, 9]), 8)
    assert str(err.value) == ("train.batch_tokens (8) is smaller than the longest training example (9 tokens); "
                              "raise it to at least 9 or lower tokenize.max_length")


def test_batches_fit_the_budget_cover_every_example_once_and_their_count_is_known():
    lengths = np.random.default_rng(0).integers(1, 40, size=301)
    ids = ragged(lengths)
    data = token_dataset(ids, np.arange(301, dtype="int32"), 16, shuffle=True, seed=1, batch_tokens=200)
    assert data.batch_tokens == 200
    sizes = []
    for epoch in range(3):
        batches = list(data.epoch(epoch))
        assert len(batches) == data.steps  # the same count every epoch
        seen = np.concatenate([y.numpy() for _, y in batches])
        assert sorted(seen.tolist()) == list(range(301))
        for x, y in batches:
            assert x.shape[0] * x.shape[1] <= 200  # longest in the batch x rows
            assert x.shape[1] == lengths[y.numpy()].max()  # padded to its longest only
            for row, label in zip(x.numpy(), y.numpy()):
                np.testing.assert_array_equal(row[: lengths[label]], ids[label].numpy())
                assert (row[lengths[label]:] == 0).all()
        sizes.append(sorted(len(y) for _, y in batches))
    assert sizes[0] == sizes[1] == sizes[2]
    # as many rows as fit: no batch could have taken the next example of the length order
    ordered, splits = np.sort(lengths), token_batch_splits(lengths, 200)
    for start, end in zip(splits[:-2], splits[1:-1]):
        assert (end - start + 1) * ordered[end] > 200


def test_the_order_depends_only_on_the_seed_and_the_epoch():
    lengths = np.random.default_rng(1).integers(1, 6, size=60)  # many ties: their order is the epoch's

    def order(data, epoch):
        return [int(v) for _, y in data.epoch(epoch) for v in y.numpy()]

    data = token_dataset(ragged(lengths), np.arange(60, dtype="int32"), 4, shuffle=True, seed=7, batch_tokens=24)
    again = token_dataset(ragged(lengths), np.arange(60, dtype="int32"), 4, shuffle=True, seed=7, batch_tokens=24)
    other = token_dataset(ragged(lengths), np.arange(60, dtype="int32"), 4, shuffle=True, seed=8, batch_tokens=24)
    assert order(data, 3) == order(again, 3)
    assert order(data, 0) != order(data, 1) and order(data, 0) != order(other, 0)
    batches = [sorted(y.numpy().tolist()) for _, y in data.epoch(0)]
    assert batches != [sorted(y.numpy().tolist()) for _, y in data.epoch(1)]  # ties mix across epochs
    streamed = [int(v) for _, y in data.stream(2, 4) for v in y.numpy()]
    assert streamed == order(data, 2) + order(data, 3)
    skipped = [int(v) for _, y in data.epoch(2).skip(3) for v in y.numpy()]
    assert skipped == [int(v) for _, y in list(data.epoch(2))[3:] for v in y.numpy()]  # mid-epoch resume


def test_translation_pairs_are_budgeted_by_target_tokens():
    from seqpipe.data.batching import pair_dataset

    rng = np.random.default_rng(2)
    source, target = rng.integers(1, 30, size=50), rng.integers(2, 12, size=50)
    data = pair_dataset(ragged(source), ragged(target), ragged(target), 8, shuffle=True, seed=0, batch_tokens=40)
    count = 0
    for (s, t_in), t_out in data.epoch(0):
        assert t_out.shape[0] * t_out.shape[1] <= 40 and t_in.shape == t_out.shape
        count += t_out.shape[0]
    assert count == 50


def test_a_task_without_token_batches_refuses_the_key(tmp_path, context, config, toy):
    from seqpipe.train.fit import fit_model, make_optimizer

    cfg = config(batch_tokens=100)
    model, (train, valid) = toy.model(), toy.data()
    model.compile(make_optimizer(cfg.optimizer), "mse")
    with pytest.raises(SeqpipeError) as err:
        fit_model(context(tmp_path), cfg, model, train, valid, [])
    assert str(err.value) == ("train.batch_tokens: task 'toy' does not make token-budget batches (its batches are "
                              "fixed in size); remove it")


@pytest.mark.parametrize("override, message", [
    ({"batch_tokens": 100, "bucketing": False},
     "batch_tokens sorts the examples by length into its batches; it needs bucketing: true; got bucketing: false"),
    ({"average_last": 1}, "average_last: 1 averages a single epoch; give 2 or more (0 or null: off)"),
    ({"average_last": 4, "epochs": 3}, "average_last (4) must not exceed epochs (3)"),
])
def test_conflicting_settings_are_one_line_each(override, message):
    from seqpipe.api import load
    from seqpipe.errors import ConfigError

    spec = {"name": "t", "task": "classification", "data": {"source": {"path": "x.tsv"}},
            "stages": [{"tokenize": {}}, {"embed": {"dim": 4}}, {"encode": {"units": 4}}, {"classify": {}},
                       {"train": {"epochs": 3, **override}}]}
    with pytest.raises(ConfigError) as err:
        load(spec)
    assert err.value.problems == [f"<dict>: stages[4].train: {message}"]


def test_packed_rows_are_the_ragged_rows_in_their_dtype_and_the_batches_pad_them_as_before():
    from seqpipe.data.batching import PackedIds, pair_dataset

    lengths = [3, 0, 5, 1]
    ids = ragged(lengths) * 1000  # ids well beyond int16
    packed = PackedIds(ids)
    assert packed.values.dtype == tf.int32 and packed.values.shape == (9,)  # no padding kept
    for i in range(4):
        row = packed.row(tf.constant(i, tf.int64))
        assert row.dtype == tf.int64
        np.testing.assert_array_equal(row.numpy(), ids[i].numpy())
    ((source, target_in), target_out), = list(pair_dataset(ids, ids + 1, ids + 2, 4))
    np.testing.assert_array_equal(source.numpy(), ids.to_tensor().numpy())
    np.testing.assert_array_equal(target_in.numpy(), (ids + 1).to_tensor().numpy())
    np.testing.assert_array_equal(target_out.numpy(), (ids + 2).to_tensor().numpy())
