"""The sweep section's keys and values are checked at validate time, at their own lines, like the rest of the file."""

from __future__ import annotations

import pytest

from seqpipe.cli import main

PIPELINE = """\
name: swept
task: classification
data: {{source: {{path: data.tsv}}, split: {{valid: 0.2, test: 0.2}}}}
stages:
  - tokenize: {{vocab_size: 60}}
  - embed: {{dim: 8}}
  - encode: {{cell: gru, units: 4, dropout: 0.1}}
  - classify: {{}}
  - train: {{epochs: 1, batch_size: 16, monitor: val_accuracy}}
sweep:
  method: {method}
  trials: 3
  params:
{params}
"""


def _pipeline(tmp_path, params: str, method: str = "grid"):
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.format(method=method, params=params), encoding="utf-8")
    return path


CELLS = "esn, gru, layer_norm_lstm, leaky_rnn, lstm, ntm, rnn"
STAGES = "tokenize, embed, encode, classify, train"


@pytest.mark.parametrize("params, line", [
    ("    encode.cell: [lsmt, gru]",
     "p.yaml:14: sweep.params.encode.cell[0]: must be one of " + CELLS + "; got 'lsmt' (did you mean 'lstm'?)"),
    ("    encod.ecell: [lstm, gru]",
     f"p.yaml:14: sweep.params.encod.ecell: unknown key 'encod'; expected a stage of this pipeline ({STAGES}) "
     "or a top-level key (did you mean 'encode'?)"),
    ("    encode.units: [abc, 32]",
     "p.yaml:14: sweep.params.encode.units[0]: must be a valid integer, unable to parse string as an integer; "
     "got 'abc'"),
])
def test_the_issues_three_examples_fail_validate_and_the_dry_run_at_their_line(tmp_path, capsys, params, line):
    path = _pipeline(tmp_path, params)
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"{tmp_path.resolve()}/{line}"]
    assert main(["sweep", str(path), "--dry-run"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"{tmp_path.resolve()}/{line}"]


def test_every_problem_at_once_at_each_values_own_line(tmp_path, capsys):
    path = _pipeline(tmp_path, "    encode.cell:\n      - gru\n      - lsmt\n    encode.units: [0, 8]\n"
                               "    encode.ecell: [gru, lstm]\n", method="grid")
    assert main(["validate", str(path)]) == 2
    err = [line.split("/")[-1] for line in capsys.readouterr().err.splitlines()]
    assert err == [
        f"p.yaml:16: sweep.params.encode.cell[1]: must be one of {CELLS}; got 'lsmt' (did you mean 'lstm'?)",
        "p.yaml:17: sweep.params.encode.units[0]: must be greater than or equal to 1; got 0",
        "p.yaml:18: sweep.params.encode.ecell: unknown key 'ecell'; expected one of kind, cell, units, layers, "
        "heads, ff_dim, normalize_first, bidirectional, merge_mode, residual, dropout, recurrent_dropout, "
        "skip_delay, tree (did you mean 'cell'?)"]


@pytest.mark.parametrize("params, message", [
    ("    encode.units: {uniform: [4, 32]}", "sweep.params.encode.units.uniform: uniform draws floats such as "
     "14.45: must be a valid integer, got a number with a fractional part; got 14.4468"),
    ("    encode.cell: {log_uniform: [1, 2]}", [f"sweep.params.encode.cell.log_uniform[{i}]: must be a cell name or "
                                              f"a mapping {{kind: name, option: value, ...}}; got {i + 1}"
                                              for i in (0, 1)]),
    ("    encode.dropout: {uniform: [0.1, 1.5]}", "sweep.params.encode.dropout.uniform[1]: must be less than 1; "
     "got 1.5"),
    ("    encode.units: {int_uniform: [0, 8]}", "sweep.params.encode.units.int_uniform[0]: must be greater than or "
     "equal to 1; got 0"),
    ("    train.optimizer: [{name: adam, learning_rat: 0.1}]", "sweep.params.train.optimizer[0]: "
     "stages[4].train.optimizer.learning_rat: unknown key 'learning_rat'; expected one of name, learning_rate, "
     "weight_decay, momentum, schedule (did you mean 'learning_rate'?)"),
    ("    data.split.valid: [0.2, 0]", "sweep.params.data.split.valid[1]: stages[4].train.monitor: 'val_accuracy' "
     "needs a validation split but data.split.valid is 0; set data.split.valid > 0 or monitor 'loss'"),
])
@pytest.mark.parametrize("method", ["random", "tpe"])
def test_ranges_are_checked_against_the_keys_type_and_bounds(tmp_path, capsys, params, message, method):
    path = _pipeline(tmp_path, params, method=method)
    assert main(["validate", str(path)]) == 2
    expected = message if isinstance(message, list) else [message]
    assert capsys.readouterr().err.splitlines() == [f"{path}:14: {line}" for line in expected]


def test_valid_sweeps_validate(tmp_path, capsys):
    for method, params in [("grid", "    encode.cell: [lstm, gru]\n    encode.units: [4, 8]"),
                           ("random", "    encode.units: {int_uniform: [2, 8]}\n    encode.dropout: {uniform: "
                                      "[0, 0.5]}\n    train.optimizer.learning_rate: {log_uniform: [1.0e-4, 0.1]}"),
                           ("tpe", "    encode.units: {int_uniform: [2, 8]}\n    encode.cell: [lstm, gru]\n"
                                   "    train.optimizer.learning_rate: {uniform: [1.0e-4, 0.1]}")]:
        assert main(["validate", str(_pipeline(tmp_path, params, method))]) == 0, capsys.readouterr().err
    assert main(["sweep", str(_pipeline(tmp_path, "    encode.cell: [lstm, gru]")), "--dry-run"]) == 0


def test_grid_options_are_checked_and_named_as_the_option(tmp_path, capsys):
    path = _pipeline(tmp_path, "    encode.cell: [lstm, gru]")
    assert main(["sweep", str(path), "--grid", "encode.units=abc,4", "--grid", "encod.cell=gru", "--dry-run"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "--grid encode.units=abc,4: encode.units[0]: must be a valid integer, unable to parse string as an integer; "
        "got 'abc'",
        f"--grid encod.cell=gru: encod.cell: unknown key 'encod'; expected a stage of this pipeline ({STAGES}) or a "
        "top-level key (did you mean 'encode'?)"]
