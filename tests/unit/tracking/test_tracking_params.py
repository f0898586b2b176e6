"""Flattening configs into MLflow params."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqpipe.tracking import params as p
from seqpipe.tracking.params import escape_name, flatten_params, safe_key, unescape_name


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


PTB_AND_PUNCTUATION = (["''", "``", "-LRB-", "-RRB-", "PRP$", "WP$", "#", "$", ":", ",", ".", "NN", "a_b", "a:b", "a b"]
                       + [c for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"]
                       + [c * 2 for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"])


def test_escape_name_keeps_plain_tags_and_escapes_the_rest():
    assert escape_name("NOUN") == "NOUN"
    assert escape_name("-LRB-") == "-LRB-"
    assert escape_name("B-PER") == "B-PER"
    assert escape_name("PRP$") == "PRP.24"
    assert escape_name("''") == ".27.27"
    assert escape_name(".") == ".2E"
    assert escape_name("é") == "é"  # a letter MLflow accepts
    assert escape_name("→") == ".u2192"
    assert escape_name("") == ".0"


def test_escaped_names_are_distinct_valid_mlflow_keys_and_reversible():
    from mlflow.utils.validation import _validate_metric_name

    keys = [f"test_f1/{escape_name(tag)}" for tag in PTB_AND_PUNCTUATION]
    assert len(set(keys)) == len(set(PTB_AND_PUNCTUATION))
    for key, tag in zip(keys, PTB_AND_PUNCTUATION):
        _validate_metric_name(key)
        assert safe_key(key) == key  # nothing left for the tracker to change
        assert unescape_name(key.split("/", 1)[1]) == tag


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12), st.text(max_size=12))
def test_escape_name_is_injective(a, b):
    if a != b:
        assert escape_name(a) != escape_name(b)
    assert unescape_name(escape_name(a)) == a


def test_tracker_refuses_two_metrics_that_would_share_a_key():
    from seqpipe.tracking.mlflow_tracker import _distinct_keys

    assert _distinct_keys(["a/b", "c"]) == {"a/b": "a/b", "c": "c"}
    with pytest.raises(ValueError, match="both become the MLflow key"):
        _distinct_keys(["test_f1/a:b", "test_f1/a_b"])
