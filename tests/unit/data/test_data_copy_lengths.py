"""The copy recipe with variable lengths: K drawn from min_symbols..symbols, a fixed longer test split, the length
column (for ``evaluate.by: length``), determinism by seed."""

from __future__ import annotations

import pytest

from seqpipe.data.readers import read_table
from seqpipe.data.recipes import DATASETS, prepare_recipe

OPTIONS = {"symbols": 5, "min_symbols": 1, "test_max_symbols": 20, "alphabet": 4, "delay": 0, "examples": 300,
           "test_examples": 200, "seed": 3}


@pytest.fixture
def table(cache, monkeypatch):
    monkeypatch.setenv("SEQPIPE_CACHE", str(cache))

    def prepare(name="copy", **options):
        return read_table(prepare_recipe(name, options), roles=list(DATASETS.get(name).roles))

    return prepare


def check_layout(tokens, tags, length, reverse=False):
    tokens, tags, k = tokens.split(), tags.split(), int(length)
    said = tokens[:k]
    assert len(tokens) == len(tags) == 2 * k + 1
    assert all(s.startswith("s") for s in said) and tokens[k:] == [":"] + ["_"] * k
    assert tags == ["_"] * (k + 1) + (said[::-1] if reverse else said)


def test_lengths_test_split_and_length_column(table):
    rows = table(**OPTIONS)
    assert len(rows) == 300 + 200
    train, test = rows[rows["split"] == "train"], rows[rows["split"] == "test"]
    assert (len(train), len(test)) == (300, 200)
    for frame in (train, test):
        for tokens, tags, length in zip(frame["tokens"], frame["tags"], frame["length"]):
            check_layout(tokens, tags, length)
    train_k, test_k = train["length"].astype(int), test["length"].astype(int)
    assert set(train_k) == set(range(1, 6))  # every length of 1..symbols occurs in 300 draws
    assert test_k.min() >= 1 and test_k.max() <= 20 and test_k.max() > 15  # far beyond training


def test_reverse_with_lengths(table):
    rows = table("reverse", **OPTIONS)
    for tokens, tags, length in zip(rows["tokens"], rows["tags"], rows["length"]):
        check_layout(tokens, tags, length, reverse=True)


def test_deterministic_by_seed(table):
    first, again = table(**OPTIONS), table(**OPTIONS)
    assert first.equals(again)
    other = table(**{**OPTIONS, "seed": 4})
    assert not first["tokens"].equals(other["tokens"])


def test_fixed_length_tables_keep_their_draws_and_have_a_length_column(table):
    rows = table(symbols=4, alphabet=3, delay=2, examples=50, seed=1)
    assert set(rows["length"]) == {"4"} and set(rows["split"]) == {"train"}
    import numpy as np

    draws = np.random.default_rng(1).integers(0, 3, size=(50, 4))  # version 1's draws, unchanged
    assert rows["tokens"].tolist() == [" ".join(f"s{i}" for i in d) + " _ _ : _ _ _ _" for d in draws]


def test_only_the_length_options_fix_a_test_split():
    copy = DATASETS.get("copy")
    assert copy.splits_for(None) == () and copy.splits_for({"min_symbols": 2}) == ()
    assert copy.splits_for({"test_max_symbols": 40}) == ("train", "test")


@pytest.mark.parametrize("options, message", [
    ({"symbols": 5, "min_symbols": 6}, "min_symbols (6) must be at most symbols (5)"),
    ({"symbols": 5, "min_symbols": 2, "test_max_symbols": 1}, "test_max_symbols (1) must be at least min_symbols (2)"),
])
def test_bad_ranges(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        DATASETS.get("copy").parse_options(options)


def test_load_data_keeps_the_fixed_test_split_and_the_length_column(cache, monkeypatch):
    from seqpipe.data import load_data
    from seqpipe.data.config import DataConfig

    monkeypatch.setenv("SEQPIPE_CACHE", str(cache))
    cfg = DataConfig(source={"recipe": "copy", "options": OPTIONS}, split={"valid": 0.1, "test": 0.0})
    assert cfg.holds("test")
    splits, _ = load_data(cfg, roles=["tokens", "tags"], keep=["length"], seed=1, base_dir=cache)
    assert {k: len(v) for k, v in splits.items()} == {"train": 270, "valid": 30, "test": 200}
    assert splits["train"]["length"].astype(int).max() <= 5 < splits["test"]["length"].astype(int).max()
    assert "split" not in splits["test"].columns
