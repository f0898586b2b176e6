"""End to end: the arith-trees smoke pipeline (recursive TreeLSTM encoder, accuracy by depth, export taking the raw
bracketed string), and malformed trees as one-line data errors naming the file and row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import seqpipe
from seqpipe.api import load
from seqpipe.errors import ConfigError, DataError
from tests.integration.conftest import run_smoke

SERVE = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["serving_default"](text=tf.constant(json.loads(sys.stdin.read())))
print(json.dumps([label.decode() for label in out["label"].numpy()]))
"""


@pytest.fixture(scope="module")
def trees_run(tmp_path_factory):
    return run_smoke(tmp_path_factory, "arith_trees")


def test_the_smoke_run_scores_every_depth_and_serves_raw_trees(trees_run):
    result = trees_run["result"]
    assert result["status"] == "FINISHED"
    metrics = result["metrics"]
    assert {"test_accuracy", *(f"test_depth_{d}_accuracy" for d in (1, 2, 3))} <= set(metrics)
    run_dir = Path(result["run_dir"])
    by_depth = pd.read_csv(run_dir / "evaluation" / "test_by_depth.csv")
    assert len(by_depth) == 3
    vocabulary = (run_dir / "vocab.txt").read_text().splitlines()
    assert vocabulary[4:6] == ["(", ")"]
    table = pd.read_csv(run_dir / "evaluation" / "test_predictions.csv", dtype=str)
    assert table["text"].str.startswith("(").all()
    proc = subprocess.run([sys.executable, "-c", SERVE, result["export_path"]],
                          input=json.dumps(table["text"].tolist()), capture_output=True, text=True, timeout=300,
                          cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == table["predicted"].tolist()


def pipeline(path: str, **encode) -> dict:
    return {"name": "trees", "task": "classification", "tracking": {"backend": "none"},
            "data": {"source": {"path": path}, "split": {"valid": 0.2, "test": 0.2}},
            "stages": [{"tokenize": {"kind": "tree"}}, {"embed": {"dim": 4}},
                       {"encode": {"units": 3, "tree": {"composition": "tanh"}, **encode}},
                       {"classify": {"pooling": "last"}}, {"train": {"epochs": 1}}, {"evaluate": {}}]}


def write(tmp_path, bad: dict[int, str]) -> None:
    rows = ["text\tlabel"] + [bad.get(i, f"(+ {i % 10} 1)") + f"\t{(i % 10 + 1) % 2}" for i in range(40)]
    (tmp_path / "trees.tsv").write_text("\n".join(rows) + "\n")


def test_unbalanced_brackets_are_a_data_error_naming_file_and_rows(tmp_path):
    write(tmp_path, {3: "(+ (* 3 4) 2", 10: "(+ 3 4))"})
    with pytest.raises(DataError) as error:
        seqpipe.run(pipeline("trees.tsv"), base_dir=tmp_path, progress=False)
    message = str(error.value)
    # both rows of the file (the header is row 1), with the first reason found
    assert "trees.tsv rows 12 and 5: column 'text' does not hold a usable tree (row 12: token 6 ')' follows " \
           "the end of the tree" in message, message


def test_one_bad_row_is_named_with_its_reason(tmp_path):
    write(tmp_path, {3: "(+ (* 3 4) 2"})
    with pytest.raises(DataError, match=r"trees.tsv row 5: column 'text': unbalanced brackets: 1 '\(' never closed"):
        seqpipe.run(pipeline("trees.tsv"), base_dir=tmp_path, progress=False)


def test_a_node_wider_than_max_arity_is_a_data_error(tmp_path):
    write(tmp_path, {7: "(+ 1 2 3)"})
    with pytest.raises(DataError, match=r"trees.tsv row 9: .*3 children; stages.encode.tree.max_arity is 2"):
        seqpipe.run(pipeline("trees.tsv"), base_dir=tmp_path, progress=False)


def test_tree_keys_are_checked_before_anything_runs(tmp_path):
    write(tmp_path, {})
    with pytest.raises(ConfigError, match="not read by the recursive encoder"):
        load(pipeline("trees.tsv", bidirectional=True), base_dir=tmp_path)
    spec = pipeline("trees.tsv")
    spec["stages"][0] = {"tokenize": {"kind": "word"}}
    with pytest.raises(ConfigError, match="needs stages.tokenize.kind 'tree'"):
        load(spec, base_dir=tmp_path)
