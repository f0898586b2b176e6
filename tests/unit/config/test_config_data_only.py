"""Pipeline files are data only, and bounded: YAML tags, aliases, size and depth, non-finite numbers,
names that become folder names, and ``plugins:`` (the one way a file imports code)."""

from __future__ import annotations

import re
import sys
import textwrap
import time
from pathlib import Path

import pytest

from seqpipe.cli import main
from seqpipe.config.loader import MAX_FILE_BYTES
from seqpipe.config.report import load_config, load_mapping_config
from seqpipe.config.yaml_reader import MAX_ALIAS_VALUES, MAX_DEPTH, MAX_VALUES

REPO = Path(__file__).resolve().parents[3]

VALID = """\
name: ok
task: classification
data:
  source: {recipe: sms-spam}
stages:
  - tokenize
  - embed
  - encode
  - classify
  - train: {monitor: loss}
"""


def _validate(path, *overrides) -> tuple[int, list[str]]:
    import io
    from contextlib import redirect_stderr, redirect_stdout

    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        code = main(["validate", str(path), *[a for o in overrides for a in ("-o", o)]])
    assert "Traceback" not in err.getvalue()
    return code, err.getvalue().splitlines()


def test_the_valid_example_validates(write):
    config, _ = load_config(write("p.yaml", VALID))
    assert config.name == "ok" and config.plugins == []


# -- tags ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("seed: !!python/object:os.system {a: 1}\n",
     "seed: YAML tag '!!python/object:os.system' is not allowed (pipeline files are data only)"),
    ("data: !include other.yaml\n", "data: YAML tag '!include' is not allowed (pipeline files are data only)"),
    ("stages: !!python/tuple [a]\n",
     "stages: YAML tag '!!python/tuple' is not allowed (pipeline files are data only)"),
    ("seed: !!python/name:os.system\n",
     "seed: YAML tag '!!python/name:os.system' is not allowed (pipeline files are data only)"),
    ("description: !!binary aGVsbG8=\n",
     "description: YAML tag '!!binary' is not allowed (pipeline files are data only)"),
    ("description: !!timestamp 2024-01-01\n",
     "description: YAML tag '!!timestamp' is not allowed (pipeline files are data only)"),
    ("data: !!set {a, b}\n", "data: YAML tag '!!set' is not allowed (pipeline files are data only)"),
    ("data: !!omap [a: 1]\n", "data: YAML tag '!!omap' is not allowed (pipeline files are data only)"),
    ("seed: !!int abc\n", "seed: cannot read 'abc' as !!int"),
    ("seed: !!int 1.5\n", "seed: cannot read '1.5' as !!int"),
    ("seed: !!float x\n", "seed: cannot read 'x' as !!float"),
    ("seed: !!bool maybe\n", "seed: cannot read 'maybe' as !!bool"),
    ("seed: !!null x\n", "seed: cannot read 'x' as !!null"),
    ("seed: !!str [1]\n", "seed: cannot read a list as !!str"),
    ("seed: !!seq {a: 1}\n", "seed: cannot read a mapping as !!seq"),
    ("seed: !!map x\n", "seed: cannot read 'x' as !!map"),
])
def test_only_core_schema_tags_are_read(write, problems, text, message):
    path = write("p.yaml", "name: x\n" + text)
    assert problems(load_config, path) == [f"{path}:2: {message}"]


def test_a_tag_deep_inside_is_reported_with_its_key_path(write, problems):
    path = write("p.yaml", VALID.replace("train: {monitor: loss}", "train: {optimizer: {name: !env ADAM}}"))
    assert problems(load_config, path) == [
        f"{path}:10: stages[4].train.optimizer.name: YAML tag '!env' is not allowed (pipeline files are data only)"]


def test_a_tagged_key_is_refused(write, problems):
    path = write("p.yaml", "name: x\ndata:\n  !k source: 1\n")
    assert problems(load_config, path) == [
        f"{path}:3: data: YAML tag '!k' is not allowed (pipeline files are data only)"]


def test_standard_tags_and_yaml_1_1_values_read_as_before(write):
    path = write("p.yaml", VALID.replace("name: ok", "name: !!str ok\nseed: !!int '7'\ndescription: 2024-01-01")
                 .replace("- embed", "- embed: !!map {dim: 0x10, dropout: !!float 0}"))
    config, _ = load_config(path)
    assert config.seed == 7
    assert config.description == "2024-01-01"  # an unquoted date is a string, not a datetime
    assert config.stage("embed").dim == 16 and config.stage("embed").dropout == 0.0


def test_equals_sign_is_a_string(write):
    config, _ = load_config(write("p.yaml", VALID + "description: =\n"))
    assert config.description == "="


# -- aliases ---------------------------------------------------------------------------------


def test_aliases_and_merge_keys_keep_working_with_their_lines(write):
    path = write("p.yaml", textwrap.dedent("""\
        name: aliased
        task: classification
        data:
          source: {recipe: sms-spam}
        tracking: {tags: {a: &a x, b: *a}}
        stages:
          - tokenize
          - embed
          - encode:
              <<: &small {units: 4, layers: 2}
              layers: 1
          - classify: *small_classify
          - train: {monitor: loss}
        """).replace("*small_classify", "&c {dropout: 0.5}\n  - evaluate: {splits: [test]}"))
    config, layered = load_config(path)
    encode = config.stage("encode")
    assert (encode.units, encode.layers) == (4, 1)  # the mapping's own key wins over the merged one
    assert config.tracking.tags == {"a": "x", "b": "x"}
    assert layered.where(("stages", "encode", "units")) == f"{path}:10"  # where the value is written
    assert layered.where(("stages", "encode", "layers")) == f"{path}:11"


def test_an_alias_reports_problems_at_the_lines_of_the_anchor(write, problems):
    path = write("p.yaml", VALID.replace("  - encode\n", "  - encode: *enc\n")
                 .replace("name: ok\n", "name: ok\nx: &enc\n  units: 0\n"))
    assert problems(load_config, path) == [
        f"{path}:3: stages[2].encode.units: must be greater than or equal to 1; got 0",
        f"{path}:2: x: unknown key 'x'; expected one of name, description, extends, plugins, seed, task, tracking, "
        "data, runtime, output_dir, stages, sweep",
    ]


def test_merge_key_errors_point_into_the_anchor(write, problems):
    path = write("p.yaml", VALID.replace("  - encode\n", "  - encode: {<<: *defaults}\n")
                 .replace("name: ok\n", "name: ok\nx: &defaults {units: 0}\n"))
    lines = problems(load_config, path)
    assert f"{path}:2: stages[2].encode.units: must be greater than or equal to 1; got 0" in lines


def test_a_merge_key_needs_mappings(write, problems):
    path = write("p.yaml", "name: x\ndata:\n  <<: [1]\n")
    assert problems(load_config, path) == [
        f"{path}:3: data.<<: a merge key '<<' takes a mapping or a list of mappings (usually aliases); got [1]"]


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["name: bomb", "a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly(write, capsys):
    text = _bomb()
    assert len(text.encode()) < 1000  # 9 levels of 9: 9**9 (387 million) strings once expanded
    path = write("bomb.yaml", text)
    start = time.perf_counter()
    code = main(["validate", str(path)])
    took = time.perf_counter() - start
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"{path}:6: aliases expand to more than {MAX_ALIAS_VALUES:,} values; pipeline files are small "
                   "(use fewer or smaller aliases)\n")
    assert took < 5


def test_a_recursive_alias_is_one_line(write, problems):
    path = write("p.yaml", "name: x\ndata: &d\n  source: [*d]\n")
    assert problems(load_config, path) == [
        f"{path}:3: data.source[0]: alias *d is inside the value it names (a recursive alias); "
        "pipeline files are finite data"]


def test_an_undefined_alias_is_not_valid_yaml(write, problems):
    path = write("p.yaml", "name: x\nseed: *nope\n")
    assert problems(load_config, path) == [f"{path}:2: not valid YAML: found undefined alias 'nope'"]


# -- size and depth --------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["a: " + "[" * 10_000 + "]" * 10_000 + "\n",
                                  "a: " + "{b: " * 5_000 + "1" + "}" * 5_000 + "\n",
                                  "a:\n" + "".join(" " * (2 * k + 2) + "k:\n" for k in range(300))])
def test_deep_nesting_is_one_line_not_a_recursion_error(write, text):
    path = write("deep.yaml", text)
    start = time.perf_counter()
    code, lines = _validate(path)
    assert code == 2
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:")
    assert lines[0].endswith(f": lists and mappings are nested more than {MAX_DEPTH} levels deep; "
                             "pipeline files need far fewer")
    assert time.perf_counter() - start < 5


def test_aliases_cannot_nest_deeper_than_the_limit(write, problems):
    levels = ["name: x", "d0: &d0 " + "[" * 40 + "]" * 40]
    levels += [f"d{i}: &d{i} " + "[" * 30 + f"*d{i - 1}" + "]" * 30 for i in range(1, 4)]
    path = write("p.yaml", "\n".join(levels) + "\n")
    assert problems(load_config, path) == [
        f"{path}:3: lists and mappings are nested more than {MAX_DEPTH} levels deep (with aliases expanded); "
        "pipeline files need far fewer"]


def test_files_over_the_size_limit_are_refused(write, problems):
    path = write("big.yaml", "name: x\ndescription: " + "x" * MAX_FILE_BYTES + "\n")
    assert problems(load_config, path) == [
        f"{path}: the file is larger than 2 MB; pipeline files are small (is this the right file?)"]
    main_file = write("main.yaml", "name: x\nextends:\n  - big.yaml\n")
    assert problems(load_config, main_file) == [
        f"{main_file}:3: extends[0]: big.yaml is larger than 2 MB; pipeline files are small (is this the right file?)"]


def test_a_large_file_under_the_limit_validates_in_a_second_or_two(write):
    rows = "".join(f"    tag{i:05d}: 'a value of some fifty characters, number {i:05d}'\n" for i in range(15_000))
    path = write("large.yaml", VALID + "tracking:\n  tags:\n" + rows)
    assert 900_000 < path.stat().st_size < 1_000_000
    start = time.perf_counter()
    assert _validate(path) == (0, [])
    assert time.perf_counter() - start < 5


def test_at_most_100_problems_are_shown(write):
    path = write("p.yaml", VALID + "tracking:\n  tags:\n" + "".join(f"    k{i}: {i}\n" for i in range(17_000)))
    code, lines = _validate(path)
    assert code == 2  # every tag value must be a string: 17,000 problems, the first 100 shown
    assert lines[0] == f"{path}:13: tracking.tags.k0: must be a valid string; got 0"
    assert lines[100:] == [f"{path}: too many problems: 16,900 more not shown (fix the ones above first)"]


@pytest.mark.parametrize("text", [
    "a: [" + ", ".join("[" * 60 + "1" + "]" * 60 for _ in range(8000)) + "]\n",  # 1 MB of lists 60 deep
    "a:\n" + "".join(f"  - {i}\n" for i in range(120_000)),
])
def test_files_with_too_many_values_are_refused_quickly(write, text):
    path = write("many.yaml", text)
    start = time.perf_counter()
    code, lines = _validate(path)
    assert code == 2 and len(lines) == 1
    assert re.fullmatch(rf"{re.escape(str(path))}:\d+: the file holds more than {MAX_VALUES:,} values; pipeline "
                        r"files are small \(is this the right file\?\)", lines[0])
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("text", [
    "a:\n  <<: {" + ", ".join(f"k{i}: 1" for i in range(45_000)) + "}\n",  # one merged mapping, many keys
    "a:\n  <<: [" + ", ".join(f"{{k{i}: 1}}" for i in range(30_000)) + "]\n",  # many merged mappings
    "a: " + "".join(f"&n{i} [" for i in range(60)) + ", ".join(["1"] * 90_000) + "]" * 60 + "\n",  # nested anchors
])
def test_merges_and_anchors_stay_fast(write, text):
    path = write("p.yaml", text)
    start = time.perf_counter()
    code, lines = _validate(path)
    assert code == 2 and lines[-1] == f"{path}:1: a: unknown key 'a'; expected one of name, description, extends, " \
                                      "plugins, seed, task, tracking, data, runtime, output_dir, stages, sweep"
    assert time.perf_counter() - start < 5


def test_merge_lists_take_the_first_mapping_that_has_a_key(write, load_layered):
    path = write("p.yaml", "x: &x {a: 1, b: 1}\ny: &y {b: 2, c: 2}\ndata:\n  <<: [*x, *y]\n  c: 3\n")
    layered = load_layered(path)
    assert layered.data["data"] == {"c": 3, "a": 1, "b": 1}
    assert [layered.where(("data", k)) for k in "abc"] == [f"{path}:1", f"{path}:1", f"{path}:5"]


def test_control_characters_are_not_valid_yaml_with_their_line(write, problems):
    path = write("p.yaml", "name: x\nseed: 1\x01\n")
    assert problems(load_config, path) == [
        f"{path}:2: not valid YAML: unacceptable character #x0001: special characters are not allowed"]


def test_not_utf8_names_the_line(tmp_path, problems):
    path = (tmp_path / "p.yaml").resolve()
    path.write_bytes(b"name: x\nseed: 1\ndescription: caf\xe9\n")
    assert problems(load_config, path) == [f"{path}:3: not UTF-8 text (byte 32); save the file as UTF-8"]


def test_a_second_document_is_refused(write, problems):
    path = write("p.yaml", "name: x\n---\nname: y\n")
    assert problems(load_config, path) == [
        f"{path}:2: not valid YAML: a pipeline file holds one YAML document; found a second one ('---')"]


def test_a_config_given_as_data_is_bounded_too(tmp_path, problems):
    deep: dict = {}
    node = deep
    for _ in range(100):
        node["a"] = {}
        node = node["a"]
    lines = problems(load_mapping_config, {"name": "x", "data": deep}, tmp_path)
    assert len(lines) == 1 and lines[0].startswith("<dict>: data.a.a.a")
    assert lines[0].endswith(f": lists and mappings are nested more than {MAX_DEPTH} levels deep (or hold "
                             "themselves); pipeline configs need far fewer")
    loop: dict = {"name": "x"}
    loop["data"] = loop
    assert len(problems(load_mapping_config, loop, tmp_path)) == 1


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value, shown", [(".inf", "inf"), ("-.inf", "-inf"), (".nan", "nan"), ("1.0e+400", "inf")])
def test_non_finite_numbers_are_refused(write, problems, value, shown):
    path = write("p.yaml", VALID.replace("train: {monitor: loss}", f"train: {{optimizer: {{learning_rate: {value}}}}}"))
    assert problems(load_config, path) == [
        f"{path}:10: stages[4].train.optimizer.learning_rate: must be a finite number; got {shown}"]


def test_non_finite_numbers_are_refused_in_overrides_and_ints(write, problems):
    path = write("p.yaml", VALID)
    assert problems(load_config, path, ["seed=.nan", "train.epochs=.inf"]) == [
        "-o seed=.nan: seed: must be a finite number; got nan",
        "-o train.epochs=.inf: stages[4].train.epochs: must be a finite number; got inf",
    ]


def test_an_integer_too_long_to_read_is_one_line(write, problems):
    path = write("p.yaml", "name: x\nseed: 1" + "0" * 5000 + "\n")
    assert problems(load_config, path) == [f"{path}:2: seed: cannot read '1{'0' * 55}... as !!int"]


# -- names -----------------------------------------------------------------------------------

NAME_RULE = ("must be 1 to 100 characters, only letters A-Z a-z, digits 0-9, '.', '_' and '-', starting with a "
             "letter or digit (it becomes part of folder and run names)")


@pytest.mark.parametrize("key, value, message", [
    ("name", "''", "name: must not be empty; got ''"),
    ("name", "'my run'", f"name: {NAME_RULE}; got 'my run'"),
    ("name", "a/b", f"name: {NAME_RULE}; got 'a/b'"),
    ("name", "'..'", f"name: {NAME_RULE}; got '..'"),
    ("name", "' x'", f"name: {NAME_RULE}; got ' x'"),
    ("name", '"a\\tb"', f"name: {NAME_RULE}; got 'a\\tb'"),
    ("name", "x" * 101, f"name: {NAME_RULE}; got '{'x' * 76}..."),
    ("tracking", "{run_name: a/../b}", f"tracking.run_name: {NAME_RULE}; got 'a/../b'"),
    ("tracking", "{run_name: ''}", "tracking.run_name: must not be empty; got ''"),
    ("tracking", "{experiment: ''}", "tracking.experiment: must not be empty; got ''"),
    ("tracking", "{experiment: '   '}", "tracking.experiment: must not be empty; got '   '"),
    ("tracking", "{experiment: 'a '}", "tracking.experiment: must not start or end with a space; got 'a '"),
    ("tracking", '{experiment: "a\\nb"}',
     "tracking.experiment: must not contain control characters (tab, newline, ...); got 'a\\nb'"),
    ("tracking", "{uri: ''}", "tracking.uri: must not be empty; got ''"),
    ("output_dir", "''", "output_dir: must not be empty; got ''"),
    ("output_dir", '"runs\\0x"',
     "output_dir: must not contain control characters (tab, newline, ...); got 'runs\\x00x'"),
])
def test_names_that_become_folder_and_run_names_are_checked(write, problems, key, value, message):
    path = write("p.yaml", VALID.replace("name: ok\n", "") + f"{key}: {value}\n")
    assert problems(load_config, path) == [f"{path}:10: {message}"]


def test_good_names_pass(write):
    path = write("p.yaml", VALID.replace("name: ok", "name: Sentiment_v1.2-b")
                 + "tracking: {experiment: My experiment 2, run_name: try-3}\noutput_dir: ../my runs\n")
    config, _ = load_config(path)
    assert (config.name, config.tracking.experiment, config.tracking.run_name) == (
        "Sentiment_v1.2-b", "My experiment 2", "try-3")


def test_the_default_name_is_made_from_the_file_name(write):
    config, _ = load_config(write("my pipeline (v2).yaml", VALID.replace("name: ok\n", "")))
    assert config.name == "my-pipeline-v2-"
    config, _ = load_config(write("_.yaml", VALID.replace("name: ok\n", "")))
    assert config.name == "pipeline"


def test_an_empty_name_no_longer_reaches_mlflow(write, capsys):
    path = write("p.yaml", VALID.replace("name: ok", "name: ''"))
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}:1: name: must not be empty; got ''\n"


# -- plugins ---------------------------------------------------------------------------------

PLUGIN = '''\
from seqpipe.cells import CELLS, Cell


class TinyRNN(Cell):
    """A tiny test cell."""

    name = "tiny_rnn_test"

    def cell(self, units, *, recurrent_dropout=0.0, name=None):
        import keras
        return keras.layers.SimpleRNNCell(units, recurrent_dropout=recurrent_dropout, name=name)


CELLS.register("tiny_rnn_test", TinyRNN)
'''


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    """A module ``seqpipe_test_plugin.cells`` on sys.path that registers the cell ``tiny_rnn_test``."""
    from seqpipe.cells import CELLS

    package = tmp_path / "plugins" / "seqpipe_test_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cells.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    yield "seqpipe_test_plugin.cells"
    if "tiny_rnn_test" in CELLS:
        CELLS.unregister("tiny_rnn_test")
    for name in ("seqpipe_test_plugin.cells", "seqpipe_test_plugin"):
        sys.modules.pop(name, None)


def test_a_plugin_registers_a_cell_the_same_file_names(write, problems, plugin_module):
    from seqpipe.cells import CELLS

    body = VALID.replace("  - encode\n", "  - encode: {cell: tiny_rnn_test}\n")
    without = write("without.yaml", body)
    assert problems(load_config, without) == [
        f"{without}:8: stages[2].encode.cell: must be one of {', '.join(CELLS.names())}; got 'tiny_rnn_test'"]
    path = write("p.yaml", body + f"plugins: [{plugin_module}]\n")
    config, _ = load_config(path)
    assert config.stage("encode").cell == "tiny_rnn_test"
    assert config.plugins == [plugin_module]
    assert "tiny_rnn_test" in CELLS
    from seqpipe.config.report import resolved_dict
    assert resolved_dict(config)["plugins"] == [plugin_module]  # a rendered config imports it again


def test_plugins_can_come_from_an_override(write, plugin_module):
    path = write("p.yaml", VALID.replace("  - encode\n", "  - encode: {cell: tiny_rnn_test}\n"))
    config, _ = load_config(path, [f"plugins=[{plugin_module}]"])
    assert config.stage("encode").cell == "tiny_rnn_test"


def test_a_plugin_that_cannot_be_imported_is_one_line_at_its_entry(write, problems, tmp_path, monkeypatch):
    (tmp_path / "seqpipe_broken_plugin.py").write_text("raise RuntimeError('no GPU here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write("p.yaml", VALID + "plugins:\n  - my_pkg.tasks\n  - seqpipe_broken_plugin\n  - my-pkg\n  - 3\n")
    try:
        assert problems(load_config, path) == [
            f"{path}:12: plugins[0]: cannot import 'my_pkg.tasks' (ModuleNotFoundError: No module named 'my_pkg')",
            f"{path}:13: plugins[1]: cannot import 'seqpipe_broken_plugin' (RuntimeError: no GPU here)",
            f"{path}:14: plugins[2]: must be a Python module name (dotted identifiers such as my_package.cells); "
            "got 'my-pkg'",
            f"{path}:15: plugins[3]: must be a Python module name (dotted identifiers such as my_package.cells); "
            "got 3",
        ]
        path = write("p.yaml", VALID + "plugins: my_pkg\n")
        assert problems(load_config, path) == [
            f"{path}:11: plugins: must be a list of Python module names; got 'my_pkg'"]
    finally:
        sys.modules.pop("seqpipe_broken_plugin", None)


def test_plugins_are_in_the_schema_and_the_reference():
    from seqpipe.config.docs import config_reference, json_schema
    from seqpipe.config.pipeline import TOP_LEVEL

    assert "plugins" in TOP_LEVEL
    schema = json_schema()["properties"]["plugins"]
    assert schema["items"]["pattern"].startswith("^[A-Za-z_]")
    assert "\n| `plugins` | list of str | `[]` | Python modules" in config_reference()


# -- every shipped pipeline still reads the same ---------------------------------------------


@pytest.mark.parametrize("path", sorted((REPO / "pipelines").glob("*.yaml")) + sorted(
    (REPO / "pipelines" / "smoke").glob("*.yaml")), ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_pipelines_read_as_pyyaml_reads_them(path):
    """The data-only reader gives the same data as yaml.safe_load for every shipped file and fragment."""
    import yaml

    from seqpipe.config.yaml_reader import read_yaml

    files = [path]
    while files:
        file = files.pop()
        text = file.read_text(encoding="utf-8")
        problems: list[str] = []
        data, _, _ = read_yaml(text, str(file), problems)
        assert problems == []
        assert data == yaml.safe_load(text)
        extends = data.get("extends", [])
        files += [(file.parent / e).resolve() for e in ([extends] if isinstance(extends, str) else extends)]


def test_an_override_of_plugins_replaces_the_files_plugins_before_any_import(write, plugin_module):
    path = write("p.yaml", VALID.replace("  - encode\n", "  - encode: {cell: tiny_rnn_test}\n")
                 + "plugins: [no_such_module_here]\n")
    config, _ = load_config(path, ["encode.units=3", f"plugins=[{plugin_module}]"])
    assert config.stage("encode").cell == "tiny_rnn_test" and config.stage("encode").units == 3


def test_odd_pipeline_paths_are_one_line(tmp_path, capsys):
    assert main(["validate", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"{tmp_path.resolve()}: is a folder, not a YAML file: {tmp_path.resolve()}\n"
    assert main(["validate", "a\x00b.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ": cannot read " in err and "null byte" in err
