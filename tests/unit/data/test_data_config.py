"""The data section's schema, and that importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from seqpipe.data.config import DataConfig, SourceConfig, SplitConfig
from seqpipe.data.recipes import DATASETS


def message(cls, **values):
    with pytest.raises(ValidationError) as info:
        cls(**values)
    return [error["msg"] for error in info.value.errors()]


def test_defaults():
    cfg = DataConfig(source={"recipe": "sms-spam"})
    assert cfg.source.model_dump() == {"recipe": "sms-spam", "path": None, "train": None, "valid": None,
                                       "test": None, "format": "auto", "columns": None, "header": True,
                                       "limit": None, "tagset": "original"}
    assert cfg.split.model_dump() == {"valid": 0.1, "test": 0.1, "stratify": True,
                                      "group_by": None}
    assert (cfg.on_error, cfg.max_tokens) == ("fail", None)


def test_path_source_with_columns():
    cfg = SourceConfig(path="data/x.csv", format="csv", columns={"text": "review", "label": 2},
                       header=False, limit=100)
    assert cfg.columns == {"text": "review", "label": 2} and cfg.limit == 100


@pytest.mark.parametrize("values, got", [
    ({}, "none"),
    ({"recipe": "sms-spam", "path": "x.csv"}, "source.recipe and source.path"),
    ({"path": "x.csv", "train": "t.csv", "valid": "v.csv"}, "source.path and source.train"),
    ({"recipe": "sms-spam", "path": "x.csv", "train": "t.csv"}, "source.recipe and source.path and source.train"),
    ({"valid": "v.csv"}, "none"),
])
def test_exactly_one_source(values, got):
    assert message(SourceConfig, **values) == [
        f"Value error, give exactly one of source.recipe, source.path or source.train; got {got}"]


def test_fixed_split_files():
    cfg = SourceConfig(train="data/train.tsv", valid="data/dev.tsv", test="data/test.tsv")
    assert (cfg.train, cfg.valid, cfg.test, cfg.path, cfg.recipe) == (
        "data/train.tsv", "data/dev.tsv", "data/test.tsv", None, None)
    assert SourceConfig(train="t.conll", test="x.conll").valid is None


@pytest.mark.parametrize("values, given", [
    ({"path": "x.csv", "valid": "v.csv"}, "source.valid go with source.train (fixed split files); with source.path"),
    ({"recipe": "sms-spam", "valid": "v.csv", "test": "t.csv"},
     "source.valid and source.test go with source.train (fixed split files); with source.recipe"),
])
def test_valid_and_test_files_need_a_train_file(values, given):
    assert message(SourceConfig, **values) == [
        f"Value error, {given}, data.split carves the valid and test splits, so use source.train instead"]


def test_universal_tagset_names_the_train_source():
    assert message(SourceConfig, train="t.conll", tagset="universal") == [
        "Value error, source.tagset: universal maps Brown corpus tags and needs source.recipe: brown; "
        "got source.train (use tagset: original, the default)"]


def test_on_error_and_max_tokens():
    cfg = DataConfig(source={"path": "x.csv"}, on_error="skip", max_tokens=50)
    assert (cfg.on_error, cfg.max_tokens) == ("skip", 50)
    assert message(DataConfig, source={"path": "x.csv"}, on_error="drop") == ["Input should be 'fail' or 'skip'"]
    assert message(DataConfig, source={"path": "x.csv"}, max_tokens=0) == [
        "Input should be greater than or equal to 1"]


def test_holds_says_which_splits_will_have_rows():
    files = DataConfig(source={"train": "t.tsv", "valid": "v.tsv"}, split={"valid": 0, "test": 0})
    assert [files.holds(name) for name in ("train", "valid", "test")] == [True, True, False]
    carved = DataConfig(source={"path": "x.tsv"}, split={"valid": 0.2, "test": 0})
    assert [carved.holds(name) for name in ("train", "valid", "test")] == [True, True, False]
    with pytest.raises(ValueError, match="unknown split 'dev'; expected one of train, valid, test"):
        carved.holds("dev")


def test_unknown_recipe_suggests_a_name():
    assert message(SourceConfig, recipe="sms-spma") == [
        f"must be one of {', '.join(DATASETS.names())}; "
        "got 'sms-spma' "
        "(did you mean 'sms-spam'?)"]


def test_unknown_keys_and_bad_values_are_refused():
    assert message(SourceConfig, path="x.csv", sep=",") == ["Extra inputs are not permitted"]
    assert message(SourceConfig, path="x.csv", limit=0) == [
        "Input should be greater than or equal to 1"]
    assert message(SourceConfig, path="x.csv", format="xlsx") == [
        "Input should be 'auto', 'csv', 'tsv', 'jsonl', 'text', 'conll' or 'wordtag'"]


def test_split_fractions():
    assert message(SplitConfig, valid=0.5) == ["Input should be less than 0.5"]
    assert message(SplitConfig, test=-0.1) == ["Input should be greater than or equal to 0"]
    assert message(SplitConfig, valid=0.45, test=0.45) == [
        "Value error, split.valid + split.test must be below 0.9; got 0.45 + 0.45"]
    assert SplitConfig(valid=0, test=0.4).test == 0.4


def test_schema_describes_every_field_and_lists_recipes():
    schema = DataConfig.model_json_schema()
    for model in schema["$defs"].values():
        for name, field in model["properties"].items():
            assert field.get("description"), name
    assert all(field.get("description") for field in schema["properties"].values())
    recipe = schema["$defs"]["SourceConfig"]["properties"]["recipe"]
    assert {"type": "string",
            "enum": DATASETS.names()
            } in recipe["anyOf"]


def test_importing_data_and_its_config_stays_light():
    code = ("import sys, seqpipe.data, seqpipe.data.config, seqpipe.data.recipes; "
            "print(sorted(set(sys.modules) & {'pandas', 'numpy', 'tensorflow', 'keras'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
