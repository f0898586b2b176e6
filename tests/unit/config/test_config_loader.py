"""seqpipe.config.loader: extends layering, stage merging, locations, overrides, load errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqpipe.config.loader import parse_override, stage_list
from seqpipe.config.pipeline import TOP_LEVEL

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def layered_files(write):
    """main.yaml extends a.yaml and b.yaml; b.yaml extends sub/c.yaml (relative to b)."""
    a = write("frag/a.yaml", """\
        task: classification
        seed: 1
        data:
          source: {recipe: sentence-polarity}
          split: {valid: 0.1}
        stages:
          - encode: {cell: gru, units: 32}
          - train: {epochs: 3, monitor: loss}
          - evaluate: {metrics: [accuracy, macro_f1], splits: [valid, test]}
        tracking:
          tags: {a: "1"}
        """)
    b = write("frag/b.yaml", """\
        extends: [sub/c.yaml]
        seed: 2
        data:
          split: {valid: 0.2, test: 0.2}
        stages:
          - encode: {units: 48}
        """)
    c = write("frag/sub/c.yaml", """\
        seed: 3
        output_dir: from-c
        stages:
          - embed: {dim: 8}
        """)
    main = write("main.yaml", """\
        name: layered
        extends: [frag/a.yaml, frag/b.yaml]
        stages:
          - train: {epochs: 4}
          - encode: {layers: 2}
          - tokenize: {}
          - classify
          - evaluate: {metrics: [accuracy]}
        """)
    return {"a": a, "b": b, "c": c, "main": main}


def test_extends_rightmost_fragment_wins_then_the_file(layered_files, load_layered):
    data = load_layered(layered_files["main"]).data
    # seed: a=1, c=3 (under b), b=2 -> b is rightmost and the file does not set it
    assert data["seed"] == 2
    assert data["name"] == "layered"
    assert data["task"] == "classification"
    # mappings merge key by key across layers
    assert data["data"] == {"source": {"recipe": "sentence-polarity"}, "split": {"valid": 0.2, "test": 0.2}}
    assert data["tracking"] == {"tags": {"a": "1"}}
    assert "extends" not in data


def test_nested_extends_is_resolved_relative_to_each_file(layered_files, load_layered):
    layered = load_layered(layered_files["main"])
    # sub/c.yaml was found next to frag/b.yaml, not next to main.yaml
    assert layered.data["output_dir"] == "from-c"
    assert layered.data["stages"]["embed"] == {"dim": 8}
    assert layered.files == [layered_files["a"], layered_files["c"], layered_files["b"], layered_files["main"]]


def test_stages_merge_by_name_key_by_key(layered_files, load_layered):
    stages = load_layered(layered_files["main"]).data["stages"]
    assert stages["encode"] == {"cell": "gru", "units": 48, "layers": 2}  # a, then b, then the file
    assert stages["train"] == {"epochs": 4, "monitor": "loss"}
    assert stages["classify"] == {}  # "- classify" means every default


def test_stages_are_reordered_canonically(layered_files, load_layered):
    stages = load_layered(layered_files["main"]).data["stages"]
    assert list(stages) == ["tokenize", "embed", "encode", "classify", "train", "evaluate"]


def test_other_lists_are_replaced_whole(layered_files, load_layered):
    evaluate = load_layered(layered_files["main"]).data["stages"]["evaluate"]
    assert evaluate == {"metrics": ["accuracy"], "splits": ["valid", "test"]}


def test_unknown_stage_keeps_its_place_after_known_ones(write, load_layered):
    path = write("p.yaml", """\
        stages:
          - classfy: {}
          - train: {}
          - tokenize: {}
        """)
    assert list(load_layered(path).data["stages"]) == ["tokenize", "train", "classfy"]


def test_stage_list_turns_the_mapping_back_into_yaml_list_form(layered_files, load_layered):
    data = load_layered(layered_files["main"]).data
    listed = stage_list(data)
    assert listed["stages"][:3] == [{"tokenize": {}}, {"embed": {"dim": 8}},
                                    {"encode": {"cell": "gru", "units": 48, "layers": 2}}]
    assert isinstance(data["stages"], dict)  # the input is not modified


def test_locations_point_at_the_layer_that_set_each_value(layered_files, load_layered):
    f = {k: str(v) for k, v in layered_files.items()}
    layered = load_layered(layered_files["main"])
    where = layered.where
    assert where(("name",)) == f"{f['main']}:1"
    assert where(("seed",)) == f"{f['b']}:2"
    assert where(("output_dir",)) == f"{f['c']}:2"
    assert where(("data", "source", "recipe")) == f"{f['a']}:4"
    assert where(("data", "split", "valid")) == f"{f['b']}:4"
    assert where(("stages", "encode", "cell")) == f"{f['a']}:7"
    assert where(("stages", "encode", "units")) == f"{f['b']}:6"
    assert where(("stages", "encode", "layers")) == f"{f['main']}:5"
    assert where(("stages", "embed", "dim")) == f"{f['c']}:4"
    assert where(("stages", "train", "monitor")) == f"{f['a']}:8"
    assert where(("stages", "train", "epochs")) == f"{f['main']}:4"
    assert where(("stages", "classify")) == f"{f['main']}:7"


def test_location_of_the_stages_key_is_its_own_line(layered_files, load_layered):
    # not the line of the last stage entry
    assert load_layered(layered_files["main"]).where(("stages",)) == f"{layered_files['main']}:3"


def test_where_falls_back_to_the_nearest_ancestor_then_the_top_mapping(layered_files, load_layered):
    f = {k: str(v) for k, v in layered_files.items()}
    layered = load_layered(layered_files["main"])
    # a default (never written) key inside a stage -> the stage entry's line
    assert layered.where(("stages", "classify", "pooling")) == f"{f['main']}:7"
    assert layered.where(("stages", "train", "optimizer", "name")) == f"{f['main']}:4"
    # nothing at all -> the line of the top file's mapping
    assert layered.where(("description",)) == f"{f['main']}:1"
    assert layered.where(()) == f"{f['main']}:1"


def test_overrides_are_typed_as_yaml_and_located(layered_files, load_layered):
    layered = load_layered(layered_files["main"], [
        "train.epochs=2",
        "stages.train.monitor=val_loss",
        "encode.dropout=0.25",
        "classify.pooling=mean",
        "train.restore_best=no",
        "evaluate.metrics=[accuracy, macro_f1]",
        "tracking.experiment=exp1",
        "description=",
    ])
    stages = layered.data["stages"]
    assert stages["train"]["epochs"] == 2 and type(stages["train"]["epochs"]) is int
    assert stages["train"]["monitor"] == "val_loss"
    assert stages["encode"]["dropout"] == 0.25
    assert stages["classify"] == {"pooling": "mean"}
    assert stages["train"]["restore_best"] is False
    assert stages["evaluate"]["metrics"] == ["accuracy", "macro_f1"]
    assert layered.data["tracking"] == {"tags": {"a": "1"}, "experiment": "exp1"}
    assert layered.data["description"] == ""
    assert layered.where(("stages", "train", "epochs")) == "-o train.epochs=2"
    assert layered.where(("stages", "train", "monitor")) == "-o stages.train.monitor=val_loss"
    assert layered.where(("tracking", "experiment")) == "-o tracking.experiment=exp1"
    # untouched keys keep their file locations
    assert layered.where(("stages", "encode", "units")) == f"{layered_files['b']}:6"


def test_override_by_index_uses_the_canonical_stage_order(layered_files, load_layered):
    # canonical order: tokenize, embed, encode, ... -> stages[2] is encode whatever the written order
    layered = load_layered(layered_files["main"], ["stages[2].units=5"])
    assert layered.data["stages"]["encode"]["units"] == 5
    assert layered.data["stages"]["embed"] == {"dim": 8}
    assert layered.where(("stages", "encode", "units")) == "-o stages[2].units=5"


def test_override_by_index_on_the_real_pipeline_hits_encode(load_layered):
    layered = load_layered(REPO / "pipelines" / "sentiment_bilstm.yaml", ["stages[2].units=5"])
    assert layered.data["stages"]["encode"]["units"] == 5
    assert "units" not in layered.data["stages"]["classify"]


def test_override_replacing_a_mapping_forgets_the_old_nested_locations(layered_files, load_layered):
    layered = load_layered(layered_files["main"], ["stages.encode={units: 7}"])
    assert layered.data["stages"]["encode"] == {"units": 7}
    assert layered.where(("stages", "encode", "cell")) == "-o stages.encode={units: 7}"


def test_override_can_add_a_key_the_files_never_set(layered_files, load_layered):
    layered = load_layered(layered_files["main"], ["train.optimizer.learning_rate=0.01"])
    assert layered.data["stages"]["train"]["optimizer"] == {"learning_rate": 0.01}


def test_stage_shorthand_only_for_stages_in_the_pipeline(write, load_layered):
    path = write("p.yaml", "name: x\nstages:\n  - train: {}\n")
    layered = load_layered(path, ["encode.units=3"])
    assert layered.data["encode"] == {"units": 3}  # not a stage here: stays top level (validation rejects it)
    assert layered.data["stages"] == {"train": {}}
    # the mapping the override created is located at the override, not in the file
    assert layered.where(("encode",)) == "-o encode.units=3"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("train.epochs=2", (("stages", "train", "epochs"), 2)),
        ("stages.train.epochs=2", (("stages", "train", "epochs"), 2)),
        ("stages[1].epochs=2", (("stages", "train", "epochs"), 2)),
        ("seed=0x10", (("seed",), 16)),
        ("name=null", (("name",), None)),
        ("name='2'", (("name",), "2")),
        ("name=a=b", (("name",), "a=b")),
        ("description={bad", (("description",), "{bad")),  # not YAML: kept as text
        ("data.source.limit=5", (("data", "source", "limit"), 5)),
        ("encode.units=3", (("stages", "encode", "units"), 3)),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text, TOP_LEVEL, ["encode", "train"]) == expected


def test_parse_override_prefers_top_level_keys_over_stage_names():
    # a stage named like a top-level key is addressed via stages.NAME only
    assert parse_override("data.x=1", TOP_LEVEL, ["data"]) == (("data", "x"), 1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("train.epochs", "-o train.epochs: expected key.path=value"),
        ("=3", "-o =3: empty key path"),
        ("stages[7].units=1", "-o stages[7].units=1: stages[7]: the pipeline has 6 stages"),
        ("seed.x=1", "-o seed.x=1: seed: holds a int value, not a mapping; cannot set seed.x"),
        ("evaluate.metrics.x=1",
         "-o evaluate.metrics.x=1: stages.evaluate.metrics: holds a list value, not a mapping; "
         "cannot set stages.evaluate.metrics.x"),
    ],
)
def test_bad_overrides(layered_files, load_layered, problems, text, message):
    assert problems(load_layered, layered_files["main"], [text]) == [message]


# -- errors while loading ----------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(write, load_layered, problems):
    path = write("bad.yaml", "name: x\ndata:\n  source: {recipe: a\nstages: []\n")
    assert problems(load_layered, path) == [f"{path}:4: not valid YAML: expected ',' or '}}', but got ':'"]


def test_tab_indentation_is_a_yaml_error_with_its_line(write, load_layered, problems):
    path = write("tab.yaml", "name: x\n\tseed: 1\n")
    assert problems(load_layered, path) == [
        f"{path}:2: not valid YAML: found character '\\t' that cannot start any token"]


def test_yaml_error_in_a_fragment_names_the_fragment(write, load_layered, problems):
    frag = write("frag.yaml", "seed: [1\n")
    main = write("main.yaml", "name: x\nextends: [frag.yaml]\n")
    assert problems(load_layered, main) == [f"{frag}:2: not valid YAML: expected ',' or ']', but got '<stream end>'"]


def test_missing_pipeline_file(tmp_path, load_layered, problems):
    path = (tmp_path / "nope.yaml").resolve()
    assert problems(load_layered, path) == [f"{path}: file not found: {path}"]


def test_missing_extends_file_names_the_line_and_folder(write, load_layered, problems):
    path = write("main.yaml", "name: x\nextends:\n  - ok.yaml\n  - configs/nope.yaml\n")
    write("ok.yaml", "seed: 1\n")
    assert problems(load_layered, path) == [
        f"{path}:4: extends[1]: file not found: configs/nope.yaml (looked in {path.parent / 'configs'})"]


def test_extends_cycle_points_at_the_entry_that_closes_it(write, load_layered, problems):
    one = write("one.yaml", "extends: [two.yaml]\n")
    two = write("two.yaml", "seed: 1\nextends: one.yaml\n")  # a single string is accepted too
    assert problems(load_layered, one) == [f"{two}:2: extends[0]: cycle {one} -> {two} -> {one}"]


def test_self_extends_is_a_cycle(write, load_layered, problems):
    me = write("me.yaml", "seed: 1\nextends:\n  - me.yaml\n")
    assert problems(load_layered, me) == [f"{me}:3: extends[0]: cycle {me} -> {me}"]


def test_diamond_extends_is_not_a_cycle(write, load_layered):
    write("base.yaml", "seed: 5\n")
    write("left.yaml", "extends: [base.yaml]\n")
    write("right.yaml", "extends: [base.yaml]\noutput_dir: r\n")
    main = write("main.yaml", "extends: [left.yaml, right.yaml]\n")
    assert load_layered(main).data == {"seed": 5, "output_dir": "r"}


def test_extends_must_be_a_list_of_paths(write, load_layered, problems):
    path = write("p.yaml", "name: x\nextends: {a: 1}\n")
    assert problems(load_layered, path) == [f"{path}:2: extends: must be a list of file paths; got {{'a': 1}}"]


def test_duplicate_stage(write, load_layered, problems):
    path = write("p.yaml", """\
        name: x
        stages:
          - train: {}
          - encode: {}
          - train: {epochs: 2}
        """)
    assert problems(load_layered, path) == [f"{path}:5: stages[2]: stage 'train' appears twice; give each stage once"]


def test_duplicate_stage_across_files_is_a_merge_not_an_error(write, load_layered):
    write("frag.yaml", "stages:\n  - train: {epochs: 1, batch_size: 8}\n")
    path = write("p.yaml", "extends: [frag.yaml]\nstages:\n  - train: {epochs: 2}\n")
    assert load_layered(path).data["stages"] == {"train": {"epochs": 2, "batch_size": 8}}


def test_stage_entries_must_be_one_key_mappings(write, load_layered, problems):
    path = write("p.yaml", """\
        name: x
        stages:
          - train: {}
            encode: {}
          - 5
          - embed: {}
        """)
    assert problems(load_layered, path) == [
        f"{path}:3: stages[0]: each stage must be a mapping with exactly one key (the stage name); "
        "got {'train': {}, 'encode': {}}",
        f"{path}:5: stages[1]: each stage must be a mapping with exactly one key (the stage name); got 5",
    ]


def test_stages_must_be_a_list(write, load_layered, problems):
    path = write("p.yaml", "name: x\nstages: {train: {}}\n")
    assert problems(load_layered, path) == [
        f"{path}:2: stages: must be a list of one-key mappings like '- train: {{epochs: 2}}'; got dict"]


def test_duplicate_key_in_a_mapping(write, load_layered, problems):
    path = write("p.yaml", "name: x\nseed: 1\ndata:\n  split: {}\nseed: 2\n")
    assert problems(load_layered, path) == [f"{path}:5: seed: duplicate key"]


def test_duplicate_key_inside_a_stage(write, load_layered, problems):
    path = write("p.yaml", "name: x\nstages:\n  - encode: {units: 1, layers: 2, units: 3}\n")
    assert problems(load_layered, path) == [f"{path}:3: stages[0].encode.units: duplicate key"]


def test_all_load_problems_are_reported_together(write, load_layered, problems):
    path = write("p.yaml", """\
        name: x
        seed: 1
        seed: 2
        extends: [missing.yaml]
        stages:
          - train: {}
          - train: {}
        """)
    assert problems(load_layered, path) == [
        f"{path}:3: seed: duplicate key",
        f"{path}:7: stages[1]: stage 'train' appears twice; give each stage once",
        f"{path}:4: extends[0]: file not found: missing.yaml (looked in {path.parent})",
    ]


def test_non_string_keys_are_refused(write, load_layered, problems):
    path = write("p.yaml", "name: x\ndata:\n  1: a\n")
    assert problems(load_layered, path) == [f"{path}:3: data: keys must be strings; got 1"]


def test_file_must_hold_a_mapping(write, load_layered, problems):
    path = write("p.yaml", "- a\n- b\n")
    assert problems(load_layered, path) == [f"{path}:1: the file must hold a mapping (key: value lines); got list"]


def test_empty_file_loads_as_empty_mapping(write, load_layered):
    path = write("p.yaml", "# only a comment\n")
    layered = load_layered(path)
    assert layered.data == {}
    assert layered.files == [path]


# -- extends entries: every problem at the line of its entry -----------------------------------


def test_extends_problems_point_at_their_entries(write, load_layered, problems, tmp_path):
    (tmp_path / "folder").mkdir()
    write("ok.yaml", "seed: 1\n")
    path = write("main.yaml", "name: x\nextends:\n  - ok.yaml\n  - folder\n  - 5\n  - ''\n  - nope.yaml\n")
    assert problems(load_layered, path) == [
        f"{path}:4: extends[1]: is a folder, not a YAML file: folder",
        f"{path}:5: extends[2]: must be the path of a YAML file; got 5",
        f"{path}:6: extends[3]: must be the path of a YAML file; got ''",
        f"{path}:7: extends[4]: file not found: nope.yaml (looked in {path.parent})",
    ]


def test_problems_in_several_fragments_are_reported_together(write, load_layered, problems):
    one = write("one.yaml", "seed: [1\n")
    two = write("two.yaml", "seed: !!int x\n")
    path = write("main.yaml", "extends: [one.yaml, two.yaml]\n")
    assert problems(load_layered, path) == [
        f"{one}:2: not valid YAML: expected ',' or ']', but got '<stream end>'",
        f"{two}:1: seed: cannot read 'x' as !!int",
    ]


def test_several_bad_overrides_are_reported_together(layered_files, load_layered, problems):
    assert problems(load_layered, layered_files["main"], ["train.epochs", "=", "stages[99].x=1", "ok=1"]) == [
        "-o train.epochs: expected key.path=value",
        "-o =: empty key path",
        "-o stages[99].x=1: stages[99]: the pipeline has 6 stages",
    ]


@pytest.mark.parametrize("text, message", [
    ("extends=[a.yaml]", "-o extends=[a.yaml]: extends: cannot be overridden; fragments are layered from the files "
                         "(override the values they set instead)"),
    ("seed=!!python/object:os.system {}",
     "-o seed=!!python/object:os.system {}: seed: YAML tag '!!python/object:os.system' is not allowed "
     "(pipeline files are data only)"),
    ("train.epochs=!!int x", "-o train.epochs=!!int x: stages.train.epochs: cannot read 'x' as !!int"),
    ("seed=!!int " + "x" * 200, "-o seed=!!int " + "x" * 69 + "... (211 characters): seed: cannot read '"
                                + "x" * 56 + "... as !!int"),
])
def test_override_values_follow_the_file_rules(layered_files, load_layered, problems, text, message):
    # (a long override is cut in the location)
    assert problems(load_layered, layered_files["main"], [text]) == [message]


def test_an_override_value_that_is_not_yaml_stays_text(layered_files, load_layered):
    layered = load_layered(layered_files["main"], ["description=a: b: c", "name=[x"])
    assert layered.data["description"] == "a: b: c" and layered.data["name"] == "[x"


def test_odd_keys_are_quoted_in_key_paths(write, load_layered, problems):
    path = write("p.yaml", "name: x\ntracking:\n  tags: {'a b': 1, '': 2, 'x.y': 3}\n  tags: {}\n")
    assert problems(load_layered, path) == [f"{path}:4: tracking.tags: duplicate key"]
    from seqpipe.config.keypaths import _dotted

    assert _dotted(("tracking", "tags", "a b")) == "tracking.tags['a b']"
    assert _dotted(("tracking", "tags", "")) == "tracking.tags['']"
    assert _dotted(("stages", 2, "x.y")) == "stages[2]['x.y']"
