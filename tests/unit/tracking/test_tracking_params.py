"""Flattening configs into MLflow params."""

import pytest

from seqpipe.tracking import params as p
from seqpipe.tracking.params import flatten_params, safe_key


def test_limits_match_mlflow():
    from mlflow.utils import validation as v

    assert p.MAX_PARAM_VALUE_LENGTH == v.MAX_PARAM_VAL_LENGTH
    assert p.MAX_TAG_VALUE_LENGTH == v.MAX_TAG_VAL_LENGTH
    assert p.MAX_KEY_LENGTH == v.MAX_ENTITY_KEY_LENGTH
    assert p.MAX_PARAMS_PER_BATCH == v.MAX_PARAMS_TAGS_PER_BATCH
    assert p.MAX_METRICS_PER_BATCH == v.MAX_METRICS_PER_BATCH


def test_flatten_nested_config():
    config = {
        "train": {"optimizer": {"name": "adam", "learning_rate": 0.001}, "epochs": 3},
        "model": {"units": [64, 32], "bidirectional": True, "dropout": None, "extra": {}},
        "stages": [{"name": "tokenize"}, {"name": "train", "args": {"seed": 1}}],
        "labels": ["neg", "pos"],
        "mixed": [[1, 2], {"a": None}],
        "empty": [],
    }
    assert flatten_params(config) == {
        "train.optimizer.name": "adam",
        "train.optimizer.learning_rate": "0.001",
        "train.epochs": "3",
        "model.units": "[64, 32]",
        "model.bidirectional": "true",
        "model.dropout": "null",
        "model.extra": "{}",
        "stages.0.name": "tokenize",
        "stages.1.name": "train",
        "stages.1.args.seed": "1",
        "labels": "[neg, pos]",
        "mixed.0": "[1, 2]",
        "mixed.1.a": "null",
        "empty": "[]",
    }


def test_long_values_are_truncated():
    assert flatten_params({"text": "x" * 7000}) == {"text": "x" * 6000}


@pytest.mark.parametrize(
    "key, expected",
    [
        ("train.lr", "train.lr"),
        ("train/loss", "train/loss"),
        ("data/path:x", "data/path_x"),
        ("a/../b", "a_.._b"),
        ("x/", "x_"),
        ("weird key-ok_1.é", "weird key-ok_1.é"),
        ("..up", "_..up"),
        ("", "_"),
    ],
)
def test_safe_key(key, expected):
    assert safe_key(key) == expected


def test_safe_key_passes_mlflow_validation():
    from mlflow.utils.validation import _validate_param_name

    for key in ["a/../b", "//x", "/x", ".", "..", "x/", "./x", "a\tb", "k" * 300, "k/" * 200]:
        _validate_param_name(safe_key(key))


def test_long_keys_stay_distinct():
    a, b = safe_key("k" * 300 + "a"), safe_key("k" * 300 + "b")
    assert len(a) == len(b) == 250
    assert a != b
