"""Fixed splits: your own train / valid / test files, and a recipe that names each row's split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqpipe.data import load_data, load_splits
from seqpipe.data.checks import locate, origin
from seqpipe.data.config import DataConfig
from seqpipe.data.recipes import DATASETS, Recipe
from seqpipe.errors import DataError

ROLES = ["text", "label"]


def tsv(path: Path, rows, header=("text", "label")) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (["\t".join(header)] if header else []) + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rows(prefix, n, labels=("pos", "neg")):
    return [(f"{prefix} {i}", labels[i % len(labels)]) for i in range(n)]


def sizes(parts):
    return {name: len(part) for name, part in parts.items()}


def test_three_files_are_the_three_splits_as_they_are(tmp_path):
    tsv(tmp_path / "data" / "train.tsv", rows("tr", 30))
    tsv(tmp_path / "data" / "dev.tsv", rows("dv", 5))
    tsv(tmp_path / "data" / "test.tsv", rows("te", 7))
    cfg = DataConfig(source={"train": "data/train.tsv", "valid": "data/dev.tsv", "test": "data/test.tsv"},
                     split={"valid": 0.2, "test": 0.3})  # fractions are not used for given files
    parts = load_splits(cfg, roles=ROLES, seed=0, base_dir=tmp_path)
    assert list(parts) == ["train", "valid", "test"]
    assert sizes(parts) == {"train": 30, "valid": 5, "test": 7}
    assert parts["valid"]["text"].tolist() == [f"dv {i}" for i in range(5)]  # in file order
    assert parts["test"]["text"].tolist() == [f"te {i}" for i in range(7)]
    assert list(parts["train"].columns) == ROLES


def test_a_missing_held_out_file_is_carved_from_train(tmp_path):
    tsv(tmp_path / "train.tsv", rows("tr", 40))
    tsv(tmp_path / "dev.tsv", rows("dv", 6))
    cfg = DataConfig(source={"train": "train.tsv", "valid": "dev.tsv"}, split={"valid": 0.3, "test": 0.25})
    parts = load_splits(cfg, roles=ROLES, seed=1, base_dir=tmp_path)
    assert sizes(parts) == {"train": 30, "valid": 6, "test": 10}
    assert all(text.startswith("tr ") for text in parts["test"]["text"])
    assert parts["test"]["label"].value_counts().to_dict() == {"pos": 5, "neg": 5}  # stratified
    only_test = DataConfig(source={"train": "train.tsv", "test": "dev.tsv"}, split={"valid": 0.1})
    parts = load_splits(only_test, roles=ROLES, seed=1, base_dir=tmp_path)
    assert sizes(parts) == {"train": 36, "valid": 4, "test": 6}
    no_test = DataConfig(source={"train": "train.tsv", "valid": "dev.tsv"}, split={"test": 0})
    assert sizes(load_splits(no_test, roles=ROLES, seed=1, base_dir=tmp_path)) == {
        "train": 40, "valid": 6, "test": 0}


def test_limit_applies_to_the_train_file_only(tmp_path):
    tsv(tmp_path / "train.tsv", rows("tr", 50))
    tsv(tmp_path / "dev.tsv", rows("dv", 9))
    tsv(tmp_path / "test.tsv", rows("te", 8))
    cfg = DataConfig(source={"train": "train.tsv", "valid": "dev.tsv", "test": "test.tsv", "limit": 10})
    parts = load_splits(cfg, roles=ROLES, seed=2, base_dir=tmp_path)
    assert sizes(parts) == {"train": 10, "valid": 9, "test": 8}
    assert parts["train"].equals(load_splits(cfg, roles=ROLES, seed=2, base_dir=tmp_path)["train"])
    carved = DataConfig(source={"train": "train.tsv", "test": "test.tsv", "limit": 20}, split={"valid": 0.25})
    assert sizes(load_splits(carved, roles=ROLES, seed=2, base_dir=tmp_path)) == {
        "train": 15, "valid": 5, "test": 8}


def test_group_by_is_read_from_the_carved_train_file_only(tmp_path):
    train = [(f"t{i}", "x", f"g{i // 4}") for i in range(40)]  # 10 groups of 4
    tsv(tmp_path / "train.tsv", train, header=("text", "label", "doc"))
    tsv(tmp_path / "test.tsv", rows("te", 3))  # no doc column: not needed
    cfg = DataConfig(source={"train": "train.tsv", "test": "test.tsv"}, split={"valid": 0.2, "group_by": "doc"})
    parts = load_splits(cfg, roles=ROLES, seed=0, base_dir=tmp_path)
    assert sizes(parts) == {"train": 32, "valid": 8, "test": 3}
    assert all(list(part.columns) == ROLES for part in parts.values())
    valid_groups = {int(text[1:]) // 4 for text in parts["valid"]["text"]}
    train_groups = {int(text[1:]) // 4 for text in parts["train"]["text"]}
    assert len(valid_groups) == 2 and not valid_groups & train_groups
    fixed = DataConfig(source={"train": "test.tsv", "valid": "test.tsv", "test": "test.tsv"},
                       split={"group_by": "doc"})  # nothing carved: the column is never read
    assert sizes(load_splits(fixed, roles=ROLES, seed=0, base_dir=tmp_path)) == {"train": 3, "valid": 3, "test": 3}


def test_every_file_is_read_with_the_same_format_and_columns(tmp_path):
    for name, n in (("train", 6), ("dev", 2), ("test", 3)):
        lines = [json.dumps({"src": f"{name} {i}", "tgt": f"{i} {name}"}) for i in range(n)]
        (tmp_path / f"{name}.data").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = DataConfig(source={"train": "train.data", "valid": "dev.data", "test": "test.data", "format": "jsonl",
                             "columns": {"source": "src", "target": "tgt"}})
    parts = load_splits(cfg, roles=["source", "target"], seed=0, base_dir=tmp_path)
    assert parts["valid"].to_dict("records") == [{"source": "dev 0", "target": "0 dev"},
                                                 {"source": "dev 1", "target": "1 dev"}]


def test_conll_train_dev_test(tmp_path):
    def conll(name, sentences):
        text = "\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(s.split(), tags.split())) for s, tags in sentences)
        (tmp_path / name).write_text(text + "\n", encoding="utf-8")

    conll("train.conll", [("the cat sat", "DET NOUN VERB")] * 5)
    conll("dev.conll", [("a dog", "DET NOUN")])
    conll("test.conll", [("dogs bark", "NOUN VERB"), ("cats", "NOUN")])
    cfg = DataConfig(source={"train": "train.conll", "valid": "dev.conll", "test": "test.conll"})
    parts = load_splits(cfg, roles=["tokens", "tags"], seed=0, base_dir=tmp_path)
    assert sizes(parts) == {"train": 5, "valid": 1, "test": 2}
    assert parts["test"].values.tolist() == [["dogs bark", "NOUN VERB"], ["cats", "NOUN"]]
    assert locate(parts["test"], "test", 1) == (str(tmp_path / "test.conll"), "line", 4)


def test_rows_remember_their_file_and_row(tmp_path):
    tsv(tmp_path / "train.tsv", rows("tr", 20))
    tsv(tmp_path / "dev.tsv", rows("dv", 3))
    cfg = DataConfig(source={"train": "train.tsv", "valid": "dev.tsv"}, split={"test": 0.2})
    parts = load_splits(cfg, roles=ROLES, seed=4, base_dir=tmp_path)
    for name, part in parts.items():
        known = origin(part)
        assert known is not None and known.unit == "row"
        for i, text in enumerate(part["text"]):
            number = int(text.split()[1]) + 2  # the header is row 1
            assert locate(part, name, i) == (known.file, "row", number)
    assert origin(parts["valid"]).file == str(tmp_path / "dev.tsv")
    assert origin(parts["test"]).file == str(tmp_path / "train.tsv")
    assert origin(parts["train"]).columns == {"text": "column 'text'", "label": "column 'label'"}


def test_a_split_too_small_to_carve_names_the_train_file(tmp_path):
    tsv(tmp_path / "train.tsv", rows("tr", 4))
    cfg = DataConfig(source={"train": "train.tsv"}, split={"valid": 0.1, "test": 0})
    with pytest.raises(DataError) as info:
        load_splits(cfg, roles=ROLES, seed=0, base_dir=tmp_path)
    assert str(info.value) == (f"{tmp_path / 'train.tsv'}: 4 rows are too few for a valid split of 0.1: it would "
                               "get no rows; add rows, raise data.split.valid or set it to 0")


def test_a_missing_split_file_is_named(tmp_path):
    tsv(tmp_path / "train.tsv", rows("tr", 10))
    cfg = DataConfig(source={"train": "train.tsv", "valid": "nope.tsv"})
    with pytest.raises(DataError) as info:
        load_splits(cfg, roles=ROLES, seed=0, base_dir=tmp_path)
    assert str(info.value) == f"{tmp_path / 'nope.tsv'}: file not found"


def test_skip_reports_every_file_and_fail_names_the_held_out_file(tmp_path):
    tsv(tmp_path / "train.tsv", rows("tr", 10) + [("", "pos")])
    tsv(tmp_path / "dev.tsv", rows("dv", 3) + [("dv x", "")])
    cfg = DataConfig(source={"train": "train.tsv", "valid": "dev.tsv"}, split={"test": 0}, on_error="skip")
    parts, report = load_data(cfg, roles=ROLES, seed=0, base_dir=tmp_path)
    assert sizes(parts) == {"train": 10, "valid": 3, "test": 0}
    assert report.skipped == {str(tmp_path / "train.tsv"): 1, str(tmp_path / "dev.tsv"): 1}
    assert report.total == 2 and report.metrics() == {"data_skipped_rows": 2.0}
    assert report.examples == [f"{tmp_path / 'train.tsv'} row 12: empty value in column 'text'; expected a value",
                               f"{tmp_path / 'dev.tsv'} row 5: empty value in column 'label'; expected a value"]
    tsv(tmp_path / "train.tsv", rows("tr", 10))
    with pytest.raises(DataError) as info:
        load_data(DataConfig(source={"train": "train.tsv", "valid": "dev.tsv"}), roles=ROLES, seed=0,
                  base_dir=tmp_path)
    assert str(info.value) == (f"{tmp_path / 'dev.tsv'} row 5: empty value in column 'label'; expected a value "
                               "(data.on_error: skip drops such rows)")


# --- a recipe with its own splits ----------------------------------------------------------------

class FixedSplits(Recipe):
    """A fake data set whose table names each row's split (train and test; no valid)."""

    name = "fixed-splits-test"
    roles = ("text", "label", "split")
    splits = ("train", "test")
    table: Path

    def prepare(self, cache: Path) -> Path:
        return self.table


@pytest.fixture
def fixed_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path / "cache"))
    DATASETS.register(FixedSplits.name, FixedSplits, description="fixed splits for a test")
    try:
        yield FixedSplits
    finally:
        DATASETS.unregister(FixedSplits.name)


def test_recipe_splits_are_kept_and_the_missing_one_carved(tmp_path, fixed_recipe):
    table = [(f"tr {i}", "ab"[i % 2], "train") for i in range(20)] + [(f"te {i}", "ab"[i % 2], "test")
                                                                     for i in range(6)]
    fixed_recipe.table = tsv(tmp_path / "table.tsv", table, header=("text", "label", "split"))
    cfg = DataConfig(source={"recipe": FixedSplits.name}, split={"valid": 0.2, "test": 0.4})
    parts = load_splits(cfg, roles=ROLES, seed=0, base_dir=tmp_path)
    assert sizes(parts) == {"train": 16, "valid": 4, "test": 6}
    assert parts["test"]["text"].tolist() == [f"te {i}" for i in range(6)]
    assert all(text.startswith("tr ") for text in parts["valid"]["text"])
    assert all(list(part.columns) == ROLES for part in parts.values())
    assert locate(parts["test"], "test", 0) == (str(tmp_path / "table.tsv"), "row", 22)
    assert cfg.holds("test") and cfg.holds("valid")
    assert not DataConfig(source={"recipe": FixedSplits.name}, split={"valid": 0}).holds("valid")
    limited = DataConfig(source={"recipe": FixedSplits.name, "limit": 5}, split={"valid": 0})
    assert sizes(load_splits(limited, roles=ROLES, seed=0, base_dir=tmp_path)) == {"train": 5, "valid": 0, "test": 6}


def test_recipe_split_column_errors(tmp_path, fixed_recipe):
    table = [("a", "x", "train"), ("b", "x", "dev"), ("c", "x", "test")]
    fixed_recipe.table = tsv(tmp_path / "table.tsv", table, header=("text", "label", "split"))
    cfg = DataConfig(source={"recipe": FixedSplits.name}, split={"valid": 0})
    with pytest.raises(DataError) as info:
        load_splits(cfg, roles=ROLES, seed=0, base_dir=tmp_path)
    assert str(info.value) == (f"{tmp_path / 'table.tsv'} row 3: split 'dev' in column 'split'; expected one of "
                               "train, test (the splits of recipe fixed-splits-test)")
    fixed_recipe.table = tsv(tmp_path / "table.tsv", [("a", "x", "train")], header=("text", "label", "split"))
    with pytest.raises(DataError) as info:
        load_splits(cfg, roles=ROLES, seed=0, base_dir=tmp_path)
    assert str(info.value) == (f"{tmp_path / 'table.tsv'}: no rows of the test split in column 'split'; expected "
                               "rows for each of train, test (the splits of recipe fixed-splits-test)")
