"""Seeded, stratified splits and the seeded row limit."""

from __future__ import annotations

import pandas as pd
import pytest

from seqpipe.data.split import shuffle_limit, split_frame
from seqpipe.errors import DataError


def frame(labels):
    return pd.DataFrame({"text": [f"t{i}" for i in range(len(labels))], "label": labels}, dtype=str)


def counts(df):
    return df["label"].value_counts().to_dict()


def test_sizes_cover_every_row_once_with_a_fresh_index():
    df = frame(["a"] * 100)
    parts = split_frame(df, valid=0.1, test=0.2, seed=0, stratify_by=None)
    assert list(parts) == ["train", "valid", "test"]
    sizes = {name: len(part) for name, part in parts.items()}
    assert sizes == {"train": 70, "valid": 10, "test": 20}
    texts = [t for part in parts.values() for t in part["text"]]
    assert sorted(texts) == sorted(df["text"])
    assert all(part.index.equals(pd.RangeIndex(len(part))) for part in parts.values())


def test_same_seed_same_split_other_seed_other_split():
    df = frame(["a", "b"] * 50)
    first = split_frame(df, valid=0.1, test=0.1, seed=7, stratify_by="label")
    again = split_frame(df, valid=0.1, test=0.1, seed=7, stratify_by="label")
    other = split_frame(df, valid=0.1, test=0.1, seed=8, stratify_by="label")
    assert all(first[name].equals(again[name]) for name in first)
    assert not first["test"].equals(other["test"])


def test_stratified_splits_keep_label_proportions():
    df = frame(["a"] * 90 + ["b"] * 10)
    parts = split_frame(df, valid=0.1, test=0.2, seed=3, stratify_by="label")
    assert {name: counts(part) for name, part in parts.items()} == {
        "train": {"a": 63, "b": 7}, "valid": {"a": 9, "b": 1}, "test": {"a": 18, "b": 2}}


@pytest.mark.parametrize("seed", range(5))
def test_stratified_counts_are_within_one_row_of_proportional(seed):
    labels = ["a"] * 37 + ["b"] * 23 + ["c"] * 11
    parts = split_frame(frame(labels), valid=0.15, test=0.25, seed=seed, stratify_by="label")
    assert (len(parts["valid"]), len(parts["test"])) == (11, 18)
    for name in ("valid", "test"):
        share = len(parts[name]) / len(labels)
        for label, count in counts(parts[name]).items():
            assert abs(count - labels.count(label) * share) < 1


def test_zero_fraction_gives_an_empty_frame():
    parts = split_frame(frame(["a", "b"] * 5), valid=0.0, test=0.2, seed=0, stratify_by="label")
    assert parts["valid"].empty and list(parts["valid"].columns) == ["text", "label"]
    assert (len(parts["train"]), len(parts["test"])) == (8, 2)


def test_requested_split_with_no_rows_is_an_error():
    with pytest.raises(DataError) as info:
        split_frame(frame(["a"] * 4), valid=0.1, test=0.0, seed=0, stratify_by=None)
    assert str(info.value) == ("4 rows are too few for a valid split of 0.1: it would get no rows; "
                               "add rows, raise data.split.valid or set it to 0")


def test_empty_train_split_is_an_error():
    with pytest.raises(DataError) as info:
        split_frame(frame(["a", "b"]), valid=0.4, test=0.4, seed=0, stratify_by="label")
    assert str(info.value) == ("2 rows leave no rows for the train split (valid 0.4, test 0.4); "
                               "add rows or lower data.split.valid / data.split.test")


def test_shuffle_limit_keeps_a_seeded_sample():
    df = frame(["a"] * 10)
    sample = shuffle_limit(df, 4, seed=1)
    assert len(sample) == 4 and sample.index.equals(pd.RangeIndex(4))
    assert set(sample["text"]) <= set(df["text"])
    assert sample.equals(shuffle_limit(df, 4, seed=1))
    assert sorted(shuffle_limit(df, 50, seed=1)["text"]) == sorted(df["text"])
