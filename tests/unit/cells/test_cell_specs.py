"""Cell specs in pipeline files: ``cell: lstm`` or ``cell: {kind: lstm, peepholes: true}``, validated without
TensorFlow, one line per problem at the ``cell`` key, normalised in ``seqpipe render``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import yaml

from seqpipe.cells import CELLS, Cell, CellSpecError, get_cell, normalize_cell_spec, parse_cell_spec
from seqpipe.cli import main
from seqpipe.config.report import load_config
from seqpipe.errors import ConfigError

PIPELINE = """\
name: cells
task: classification
data:
  source: {path: x.tsv}
stages:
  - tokenize: {}
  - embed: {}
  - encode:
      cell: {cell}
      units: 4
  - classify: {}
  - train: {}
"""


def pipeline(tmp_path, cell: str, name: str = "p.yaml"):
    path = tmp_path / name
    path.write_text(PIPELINE.replace("{cell}", cell), encoding="utf-8")
    return path


def problems(path, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return info.value.problems


def test_every_kind_has_options_with_defaults_and_no_tensorflow_at_import():
    code = textwrap.dedent("""\
        import sys
        from seqpipe.cells import CELLS, get_cell
        for name in CELLS.names():
            kind = get_cell(name)
            assert kind.spec == name, (name, kind.spec)
            assert kind.Options.model_config["extra"] == "forbid", name
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("spec, normalised", [
    ("lstm", "lstm"),
    ({"kind": "lstm"}, "lstm"),
    ({"kind": "lstm", "peepholes": False, "forget_bias": 1}, "lstm"),
    ({"kind": "lstm", "peepholes": True}, {"kind": "lstm", "forget_bias": 1.0, "peepholes": True}),
    ({"kind": "rnn", "activation": "relu"}, {"kind": "rnn", "activation": "relu"}),
    ({"kind": "leaky_rnn", "time_constants": [10]}, "leaky_rnn"),
    ({"kind": "leaky_rnn", "time_constants": [1, 10, 100]},
     {"kind": "leaky_rnn", "time_constants": [1.0, 10.0, 100.0], "learn_time_constants": False}),
    ({"kind": "esn", "spectral_radius": 1.1, "seed": 3},
     {"kind": "esn", "spectral_radius": 1.1, "input_scaling": 1.0, "bias_scaling": None, "sparsity": 0.9,
      "leak_rate": 1.0, "seed": 3}),
])
def test_specs_normalise_to_the_name_or_the_full_mapping(spec, normalised):
    assert normalize_cell_spec(spec) == normalised
    assert get_cell(spec).spec == normalised
    assert get_cell(normalised).spec == normalised  # a fixed point
    kind, options = parse_cell_spec(spec)
    assert kind is type(get_cell(spec)) and isinstance(options, dict)


def test_get_cell_takes_a_name_a_mapping_or_a_cell():
    cell = get_cell({"kind": "lstm", "peepholes": True})
    assert get_cell(cell) is cell and cell.options.peepholes is True
    with pytest.raises(KeyError, match=r"unknown cell 'lstmm'; expected one of .* \(did you mean 'lstm'\?\)"):
        get_cell("lstmm")
    with pytest.raises(KeyError, match="unknown cell 'nope'"):
        get_cell({"kind": "nope"})
    with pytest.raises(CellSpecError, match="unknown option 'peephole' for cell lstm"):
        get_cell({"kind": "lstm", "peephole": True})


def test_a_plugin_cell_without_options_keeps_working():
    class Tiny(Cell):
        name = "tiny_spec_test"

    CELLS.register("tiny_spec_test", Tiny)
    try:
        assert get_cell("tiny_spec_test").spec == "tiny_spec_test"
        assert normalize_cell_spec({"kind": "tiny_spec_test"}) == "tiny_spec_test"
        with pytest.raises(CellSpecError, match="unknown option 'x' for cell tiny_spec_test; it has no options"):
            get_cell({"kind": "tiny_spec_test", "x": 1})
    finally:
        CELLS.unregister("tiny_spec_test")


@pytest.mark.parametrize("cell, message", [
    ("{kind: lstm, peephole: true}",
     "unknown option 'peephole' for cell lstm; expected one of forget_bias, peepholes (did you mean 'peepholes'?)"),
    ("lstmm", f"must be one of {', '.join(CELLS.names())}; got 'lstmm' (did you mean 'lstm'?)"),
    ("{kind: lstmm, peepholes: true}",
     f"must be one of {', '.join(CELLS.names())}; got 'lstmm' (did you mean 'lstm'?)"),
    ("{peepholes: true}", f"a cell mapping needs a 'kind' key, one of {', '.join(CELLS.names())} "
                          "(the form is {kind: name, option: value, ...})"),
    ("3", "must be a cell name or a mapping {kind: name, option: value, ...}; got 3"),
    ("{kind: lstm, forget_bias: high}",
     "option 'forget_bias' of cell lstm: must be a valid number, unable to parse string as a number; got 'high'"),
    ("{kind: gru, units: 3}", "unknown option 'units' for cell gru; it has no options"),
    ("{kind: rnn, activation: sigmoid}", "option 'activation' of cell rnn: must be 'tanh' or 'relu'; got 'sigmoid'"),
    ("{kind: esn, sparsity: 1.0}", "option 'sparsity' of cell esn: must be less than 1; got 1.0"),
    ("{kind: leaky_rnn, time_constants: [1, 0.5]}",
     "option 'time_constants' of cell leaky_rnn: time constants must be >= 1; got [1.0, 0.5]"),
    ("{kind: leaky_rnn, time_constants: [1, x]}",  # the list member of float | list[float] speaks for it
     "option 'time_constants[1]' of cell leaky_rnn: must be a valid number, unable to parse string as a number; "
     "got 'x'"),
])
def test_a_bad_cell_is_one_line_at_its_key(tmp_path, cell, message):
    path = pipeline(tmp_path, cell)
    assert problems(path) == [f"{path.resolve()}:9: stages[2].encode.cell: {message}"]


def test_two_bad_options_are_one_line(tmp_path):
    path = pipeline(tmp_path, "{kind: lstm, peephole: true, forget_bias: x}")
    [line] = problems(path)
    assert "unknown option 'peephole'" in line and "option 'forget_bias' of cell lstm" in line


def test_cell_options_in_the_decoder_and_the_char_encoder(tmp_path):
    from seqpipe.api import load

    config, _, _ = load({"name": "t", "task": "translation", "data": {"source": {"path": "x.tsv"}},
                         "stages": ["tokenize", "embed", "encode",
                                    {"decode": {"cell": {"kind": "layer_norm_lstm"}, "residual": True, "layers": 2}},
                                    "train"]}, base_dir=tmp_path)
    assert config.stage("decode").cell == "layer_norm_lstm" and config.stage("decode").residual is True
    config, _, _ = load({"name": "t", "task": "tagging", "data": {"source": {"path": "x.jsonl"}},
                         "stages": ["tokenize", {"embed": {"chars": {"cell": {"kind": "rnn", "activation": "relu"}}}},
                                    "encode", "tag", "train"]}, base_dir=tmp_path)
    assert config.stage("embed").chars.cell == {"kind": "rnn", "activation": "relu"}
    with pytest.raises(ConfigError) as info:
        load({"name": "t", "task": "tagging", "data": {"source": {"path": "x.jsonl"}},
              "stages": ["tokenize", {"embed": {"chars": {"cell": {"kind": "rnn", "activaton": "relu"}}}},
                         "encode", "tag", "train"]}, base_dir=tmp_path)
    assert info.value.problems == ["<dict>: stages[1].embed.chars.cell: unknown option 'activaton' for cell rnn; "
                                   "expected one of activation (did you mean 'activation'?)"]


def test_overrides_and_fragments_reach_the_options(tmp_path):
    path = pipeline(tmp_path, "{kind: lstm, peepholes: true}")
    config, _ = load_config(path, ["encode.cell.forget_bias=2"])
    assert config.stage("encode").cell == {"kind": "lstm", "forget_bias": 2.0, "peepholes": True}
    config, _ = load_config(path, ["encode.cell=gru"])
    assert config.stage("encode").cell == "gru"
    config, _ = load_config(path, ["encode.cell={kind: esn, seed: 1}", "encode.skip_delay=3"])
    assert config.stage("encode").cell["kind"] == "esn" and config.stage("encode").skip_delay == 3
    assert problems(path, ["encode.skip_delay=-1"]) == [
        "-o encode.skip_delay=-1: stages[2].encode.skip_delay: must be greater than or equal to 0; got -1"]


def test_render_shows_the_normalised_cell_and_validate_imports_no_tensorflow(tmp_path):
    path = pipeline(tmp_path, "{kind: leaky_rnn, time_constants: [1, 10]}")
    code = textwrap.dedent(f"""\
        import sys
        from seqpipe.cli import main
        rc = main(['validate', {str(path)!r}]) or main(['render', {str(path)!r}])
        assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'tensorflow was imported'
        raise SystemExit(rc)
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rendered = yaml.safe_load(proc.stdout.split("\n", 1)[1])
    encode = next(entry["encode"] for entry in rendered["stages"] if "encode" in entry)
    assert encode["cell"] == {"kind": "leaky_rnn", "time_constants": [1.0, 10.0], "learn_time_constants": False}
    assert encode["skip_delay"] == 0
    again = tmp_path / "rendered.yaml"
    again.write_text(proc.stdout.split("\n", 1)[1], encoding="utf-8")
    assert load_config(again)[0].stage("encode").cell == encode["cell"]  # the normalised form revalidates
    # the bare name stays a bare name
    plain = pipeline(tmp_path, "{kind: lstm}", "plain.yaml")
    assert main(["render", str(plain)]) == 0


def test_the_json_schema_offers_names_and_per_kind_mappings():
    from seqpipe.config.docs import json_schema

    schema = json_schema()["$defs"]
    cell = schema["EncodeConfig"]["properties"]["cell"]
    names, mappings = cell["anyOf"]
    assert names["enum"] == CELLS.names() and cell["default"] == "lstm"
    by_kind = {m["properties"]["kind"]["const"]: m for m in mappings["oneOf"]}
    assert sorted(by_kind) == CELLS.names()
    assert set(by_kind["lstm"]["properties"]) == {"kind", "forget_bias", "peepholes"}
    assert all(m["additionalProperties"] is False and m["required"] == ["kind"] for m in by_kind.values())
