"""seqpipe.config.report: every problem at once, one exact line each; rules; resolved config."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
import yaml
from pydantic import BaseModel

from seqpipe.cells import CELLS
from seqpipe.config.pipeline import TOP_LEVEL, pipeline_model
from seqpipe.config.report import load_config, resolved_dict
from seqpipe.data.config import SourceConfig
from seqpipe.errors import ConfigError
from seqpipe.metrics import METRICS

REPO = Path(__file__).resolve().parents[3]
# the valid top-level keys in schema order, as "unknown key" messages list them
TOP_KEYS = ", ".join(pipeline_model().model_fields)

DATA = """\
task: classification
data:
  source: {recipe: sms-spam}
  split: {valid: 0.1, test: 0.1}
"""


TYPOS = """\
name: typos
seed: abc
task: classification
data:
  source: {recipe: sentence-polarty, limitt: 5}
stages:
  - tokenize: {kind: wordpeice}
  - encode: {cell: lstmm, unitz: 3, layers: 0}
  - embed: {}
  - classify: {}
  - train:
      optimizer: {name: adamm}
  - evaluate: {}
  - export: {}
  - classfy: {}
"""


def test_many_typos_are_all_reported_at_once_one_line_each(write, problems):
    from seqpipe.data.recipes import DATASETS
    from seqpipe.pipeline.stage import STAGES
    from seqpipe.text import TOKENIZERS

    path = write("typos.yaml", TYPOS)
    assert problems(load_config, path) == [
        f"{path}:2: seed: must be a valid integer, unable to parse string as an integer; got 'abc'",
        f"{path}:5: data.source.recipe: must be one of {', '.join(DATASETS.names())}; "
        "got 'sentence-polarty' (did you mean 'sentence-polarity'?)",
        f"{path}:5: data.source.limitt: unknown key 'limitt'; "
        f"expected one of {', '.join(SourceConfig.model_fields)} (did you mean 'limit'?)",
        f"{path}:7: stages[0].tokenize.kind: must be one of {', '.join(TOKENIZERS.names())}; "
        "got 'wordpeice' (did you mean 'wordpiece'?)",
        # encode is written before embed; it is reported at its canonical index 2
        f"{path}:8: stages[2].encode.cell: must be one of {', '.join(CELLS.names())}; got 'lstmm' "
        "(did you mean 'lstm'?)",
        f"{path}:8: stages[2].encode.layers: must be greater than or equal to 1; got 0",
        f"{path}:8: stages[2].encode.unitz: unknown key 'unitz'; expected one of kind, cell, units, layers, "
        "heads, ff_dim, normalize_first, bidirectional, merge_mode, residual, dropout, recurrent_dropout, "
        "skip_delay, tree (did you mean 'units'?)",
        f"{path}:12: stages[4].train.optimizer.name: must be one of adam, adamw, nadam, rmsprop, sgd; "
        "got 'adamm' (did you mean 'adam'?)",
        f"{path}:15: stages[7]: unknown stage 'classfy'; expected one of {', '.join(STAGES.names())} "
        "(did you mean 'classify'?)",
    ]


def test_problem_in_a_fragment_points_at_the_fragment(write, problems):
    frag = write("configs/model.yaml", "stages:\n  - embed: {dim: 8}\n  - encode: {cell: lstmm}\n")
    path = write("p.yaml", "name: x\nextends: [configs/model.yaml]\n" + DATA + "stages:\n  - encode: {units: 4}\n")
    assert problems(load_config, path) == [
        f"{frag}:3: stages[1].encode.cell: must be one of {', '.join(CELLS.names())}; got 'lstmm' "
        "(did you mean 'lstm'?)"]


def test_problem_from_an_override_points_at_the_override(write, problems):
    path = write("p.yaml", "name: x\n" + DATA + "stages:\n  - train: {monitor: loss}\n")
    assert problems(load_config, path, ["train.epochs=0", "seed=x"]) == [
        "-o seed=x: seed: must be a valid integer, unable to parse string as an integer; got 'x'",
        "-o train.epochs=0: stages[0].train.epochs: must be greater than or equal to 1; got 0",
    ]


def test_override_of_a_stage_not_in_the_pipeline_is_an_unknown_top_level_key(write, problems):
    path = write("p.yaml", "name: x\n" + DATA + "stages:\n  - train: {monitor: loss}\n")
    assert problems(load_config, path, ["encode.units=3"]) == [
        f"-o encode.units=3: encode: unknown key 'encode'; expected one of {TOP_KEYS}"]


def test_missing_required_keys(write, problems):
    path = write("p.yaml", "# nothing yet\n")
    # a missing key is reported at its parent's line; for top-level keys the file's mapping (line 1 when empty)
    assert problems(load_config, path) == [
        f"{path}:1: task: required key is missing",
        f"{path}:1: data: required key is missing",
        f"{path}:1: stages: required key is missing",
    ]


def test_missing_data_only(write, problems):
    path = write("p.yaml", "name: x\ntask: classification\nstages:\n  - train: {}\n")
    assert problems(load_config, path) == [f"{path}:1: data: required key is missing"]


def test_missing_nested_key_points_at_its_parent(write, problems):
    path = write("p.yaml", "name: x\ntask: classification\ndata: {}\nstages: [tokenize]\n")
    assert problems(load_config, path) == [f"{path}:3: data.source: required key is missing"]


# with an encode and a train stage: a full chain
CHAIN = "  - tokenize\n  - embed\n  - classify\n  - evaluate\n  - export\n"


def test_name_defaults_to_the_file_stem(write):
    path = write("my-pipe.yaml", DATA + "stages:\n  - encode\n  - train: {monitor: loss}\n" + CHAIN)
    config, _ = load_config(path)
    assert config.name == "my-pipe"


def test_wrong_types_and_bounds(write, problems):
    path = write("types.yaml", DATA + dedent("""\
        output_dir: 5
        tracking: {tags: {a: 1}, backend: mlfow}
        stages:
          - embed: {dim: big, dropout: 1.5}
          - encode: {bidirectional: maybe, merge_mode: cat}
          - train: {epochs: 2.5, clipnorm: -1, early_stopping: {patience: x}}
          - evaluate: {metrics: [acc], splits: [train]}
        """))
    assert problems(load_config, path) == [
        f"{path}:6: tracking.backend: must be one of mlflow, none; got 'mlfow' (did you mean 'mlflow'?)",
        f"{path}:6: tracking.tags.a: must be a valid string; got 1",
        f"{path}:5: output_dir: must be a valid string; got 5",
        f"{path}:8: stages[0].embed.dim: must be a valid integer, unable to parse string as an integer; got 'big'",
        f"{path}:8: stages[0].embed.dropout: must be less than 1; got 1.5",
        f"{path}:9: stages[1].encode.bidirectional: must be a valid boolean, unable to interpret input; got 'maybe'",
        f"{path}:9: stages[1].encode.merge_mode: must be one of concat, sum, ave, mul; got 'cat' "
        "(did you mean 'concat'?)",
        f"{path}:10: stages[2].train.epochs: must be a valid integer, got a number with a fractional part; got 2.5",
        f"{path}:10: stages[2].train.clipnorm: must be greater than 0; got -1",
        f"{path}:10: stages[2].train.early_stopping.patience: "
        "must be a valid integer, unable to parse string as an integer; got 'x'",
        f"{path}:11: stages[3].evaluate.metrics[0]: must be one of {', '.join(METRICS.names())}; got 'acc'",
        f"{path}:11: stages[3].evaluate.splits[0]: must be one of valid, test; got 'train'",
    ]


def test_wrong_task_literal(write, problems):
    path = write("p.yaml", "name: x\n" + DATA.replace("classification", "ranking") + "stages: [tokenize]\n")
    tasks = "captioning, classification, language_model, regression, tagging, translation"
    assert problems(load_config, path) == [f"{path}:2: task: must be one of {tasks}; got 'ranking'"]
    path = write("p.yaml", "name: x\n" + DATA.replace("classification", "taging") + "stages: [tokenize]\n")
    assert problems(load_config, path) == [f"{path}:2: task: must be one of {tasks}; got 'taging' "
                                           "(did you mean 'tagging'?)"]


def test_unknown_top_level_key_with_did_you_mean(write, problems):
    path = write("p.yaml", "name: x\n" + DATA + "stagse: []\nstages: [tokenize]\n")
    assert problems(load_config, path) == [
        f"{path}:6: stagse: unknown key 'stagse'; expected one of {TOP_KEYS} (did you mean 'stages'?)"]


def test_top_level_keys_are_the_loader_top_level():
    # the loader's TOP_LEVEL decides whether "-o encode.x=1" means a stage; it must match the schema
    assert set(pipeline_model().model_fields) == TOP_LEVEL
    assert TOP_KEYS.startswith("name, description, extends, plugins, seed, task, tracking, data, ")
    assert TOP_KEYS.endswith(", stages, sweep")


def test_stage_settings_must_be_a_mapping(write, problems):
    path = write("p.yaml", "name: x\n" + DATA + "stages:\n  - train:\n  - encode: 5\n  - embed: [1]\n")
    config_lines = problems(load_config, path)
    assert config_lines == [
        f"{path}:9: stages[0].embed: must be a valid dictionary or instance of EmbedConfig",
        f"{path}:8: stages[1].encode: must be a valid dictionary or instance of EncodeConfig; got 5",
    ]


def test_data_validators_report_their_own_message(write, problems):
    path = write("p.yaml", """\
        name: x
        task: classification
        data:
          source: {recipe: sms-spam, path: x.csv}
          split: {valid: 0.45, test: 0.45}
        stages: [tokenize]
        """)
    assert problems(load_config, path) == [
        f"{path}:4: data.source: give exactly one of source.recipe, source.path or source.train; "
        "got source.recipe and source.path",
        f"{path}:5: data.split: split.valid + split.test must be below 0.9; got 0.45 + 0.45",
    ]


# -- cross-field rules (seqpipe.config.rules) ----------------------------------------


def _with_split(valid=0.1, test=0.1):
    return DATA.replace("valid: 0.1", f"valid: {valid}").replace("test: 0.1", f"test: {test}")


def test_rule_needs_validation_split_for_default_monitor(write, problems):
    path = write("p.yaml", "name: x\n" + _with_split(valid=0) + "stages:\n  - tokenize: {}\n  - train: {}\n")
    # monitor is not written: the line of the train entry
    assert problems(load_config, path) == [
        f"{path}:8: stages[1].train.monitor: 'val_loss' needs a validation split but data.split.valid is 0; "
        "set data.split.valid > 0 or monitor 'loss'"]


def test_rule_monitor_is_known(write, problems):
    path = write("p.yaml", "name: x\n" + DATA + "stages:\n  - train:\n      epochs: 1\n      monitor: val_acc\n")
    assert problems(load_config, path) == [
        f"{path}:9: stages[0].train.monitor: must be one of loss, accuracy, val_loss, val_accuracy; "
        "got 'val_acc' (did you mean 'val_accuracy'?)"]


def test_rule_evaluated_splits_exist(write, problems):
    path = write("p.yaml", "name: x\n" + _with_split(test=0) + "stages:\n  - tokenize: {}\n"
                 "  - evaluate: {splits: [valid, test]}\n")
    assert problems(load_config, path) == [
        f"{path}:8: stages[1].evaluate.splits: scores the test split but data.split.test is 0"]


def test_rule_evaluated_splits_exist_for_the_default_split(write, problems):
    path = write("p.yaml", "name: x\n" + _with_split(test=0) + "stages:\n  - evaluate\n")
    assert problems(load_config, path) == [
        f"{path}:7: stages[0].evaluate.splits: scores the test split but data.split.test is 0"]


def test_rule_last_pooling_needs_concat(write, problems):
    path = write("p.yaml", "name: x\n" + DATA + dedent("""\
        stages:
          - classify: {pooling: last}
          - encode: {bidirectional: true, merge_mode: sum}
        """))
    assert problems(load_config, path) == [
        f"{path}:7: stages[1].classify.pooling: 'last' over a bidirectional encoder needs "
        "stages.encode.merge_mode 'concat'; got 'sum'"]


def test_rule_last_pooling_is_fine_unidirectional_or_concat(write):
    for encode in ("{bidirectional: false, merge_mode: sum}", "{bidirectional: true}"):
        path = write("p.yaml", "name: x\n" + DATA + f"stages:\n  - encode: {encode}\n  - classify: {{pooling: last}}\n"
                     "  - train\n  - tokenize\n  - embed\n")
        config, _ = load_config(path)
        assert config.stage("classify").pooling == "last"


def test_rule_clip_once(write, problems):
    path = write("p.yaml", "name: x\n" + DATA + "stages:\n  - tokenize: {}\n  - train:\n"
                 "      clipnorm: 1.0\n      clipvalue: 0.5\n")
    assert problems(load_config, path) == [
        f"{path}:10: stages[1].train.clipvalue: give train.clipnorm or train.clipvalue, not both"]


def test_all_rule_problems_are_reported_together(write, problems):
    path = write("p.yaml", "name: x\n" + _with_split(valid=0) + dedent("""\
        stages:
          - train: {monitor: val_accuracy, clipnorm: 1, clipvalue: 1}
          - evaluate: {splits: [valid]}
        """))
    assert problems(load_config, path) == [
        f"{path}:7: stages[0].train.monitor: 'val_accuracy' needs a validation split but data.split.valid is 0; "
        "set data.split.valid > 0 or monitor 'loss'",
        f"{path}:8: stages[1].evaluate.splits: scores the valid split but data.split.valid is 0",
        f"{path}:7: stages[0].train.clipvalue: give train.clipnorm or train.clipvalue, not both",
    ]


def test_rule_problem_from_an_override_points_at_the_override(write, problems):
    path = write("p.yaml", "name: x\n" + DATA + "stages:\n  - train: {monitor: loss}\n")
    assert problems(load_config, path, ["train.monitor=val_los"]) == [
        "-o train.monitor=val_los: stages[0].train.monitor: must be one of loss, accuracy, val_loss, "
        "val_accuracy; got 'val_los' (did you mean 'val_loss'?)"]


# -- the validated config and its resolved form ---------------------------------------


def test_resolved_dict_fills_every_default(write):
    path = write("p.yaml", "name: r\n" + DATA + "stages:\n  - train\n  - encode: {units: 4}\n" + CHAIN)
    config, _ = load_config(path)
    data = resolved_dict(config)
    assert list(data) == [k for k in pipeline_model().model_fields if k != "extends"]
    for key, value in data.items():  # sections this test does not spell out are still filled in full
        field = pipeline_model().model_fields[key]
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            assert set(value) == set(field.annotation.model_fields), key
    spelled = {k: v for k, v in data.items() if k in {
        "name", "description", "seed", "task", "tracking", "data", "output_dir", "stages"}}
    assert spelled == {
        "name": "r",
        "description": "",
        "seed": 13,
        "task": "classification",
        "tracking": {"backend": "mlflow", "experiment": None, "uri": None, "run_name": None, "tags": {}},
        "data": {
            "source": {"recipe": "sms-spam", "path": None, "train": None, "valid": None, "test": None,
                       "format": "auto", "columns": None, "header": True, "limit": None, "tagset": "original"},
            "split": {"valid": 0.1, "test": 0.1, "stratify": True, "group_by": None},
            "on_error": "fail", "max_tokens": None, "streaming": "auto", "shuffle_buffer": 50000,
        },
        "output_dir": "runs",
        "stages": [
            # tokenize.kind is the task's default; keys of other tasks are not shown
            {"tokenize": {"kind": "word", "vocab_size": 20000, "min_frequency": 1, "lowercase": True,
                          "max_length": 64, "sample_lines": 200000}},
            {"embed": {"kind": "learned", "dim": 128, "dropout": 0.0}},
            # the Transformer's keys (heads, ff_dim, normalize_first) are not the recurrent kind's
            {"encode": {"kind": "recurrent", "cell": "lstm", "units": 4, "layers": 1, "bidirectional": False,
                        "merge_mode": "concat", "residual": False, "dropout": 0.0, "recurrent_dropout": 0.0,
                        "skip_delay": 0, "tree": None}},
            {"classify": {"pooling": "max", "hidden_units": 0, "dropout": 0.0}},
            {"train": {"epochs": 5, "batch_size": 64,
                       "optimizer": {"name": "adam", "learning_rate": 0.001, "weight_decay": None, "momentum": 0.0,
                                     "schedule": None},
                       "clipnorm": None, "clip_scope": None, "clipvalue": None, "monitor": "val_loss",
                       "early_stopping": None,
                       "restore_best": True, "diagnostics": None, "checkpoint_every": None, "batch_tokens": None,
                       "average_last": None, "max_minutes": None, "bucketing": True}},
            {"evaluate": {"metrics": None, "splits": ["test"], "by": None}},
            {"export": {"format": "saved_model", "keras": True, "log_model": True, "register_as": None}},
        ],
    }


def test_resolved_dict_is_plain_yaml_and_revalidates_to_the_same_config(write):
    config, _ = load_config(REPO / "pipelines" / "sentiment_bilstm.yaml")
    data = resolved_dict(config)
    assert "extends" not in data
    path = write("rendered.yaml", yaml.safe_dump(data, sort_keys=False))
    again, _ = load_config(path)
    assert resolved_dict(again) == data
    assert again == config


def test_real_pipeline_values_come_from_its_fragments():
    config, layered = load_config(REPO / "pipelines" / "sentiment_bilstm.yaml")
    assert config.stage_names() == ["tokenize", "embed", "encode", "classify", "train", "evaluate", "export"]
    fragment = REPO / "configs" / "models" / "bilstm_maxpool.yaml"
    written = next(e["encode"] for e in yaml.safe_load(fragment.read_text())["stages"] if "encode" in e)
    encode = config.stage("encode")
    assert encode.model_dump(include=set(written)) == written  # every value the fragment sets arrives
    assert config.stage("train").clipnorm == 5.0
    assert config.stage("nope") is None
    line = next(i for i, text in enumerate(fragment.read_text().splitlines(), 1) if "- encode:" in text)
    assert layered.where(("stages", "encode", "units")) == f"{fragment}:{line}"


def test_smoke_pipeline_overrides_its_parent():
    config, layered = load_config(REPO / "pipelines" / "smoke" / "sentiment_bilstm.yaml")
    assert config.name == "sentiment-bilstm-smoke"
    assert config.data.source.limit == 600
    assert config.data.source.recipe == "sentence-polarity"
    assert config.data.split.stratify is True  # from configs/data, untouched by the smoke file
    assert config.stage("encode").units == 8
    assert config.stage("encode").layers == 2
    assert config.stage("train").epochs == 2
    assert config.stage("train").clipnorm == 5.0
    assert config.tracking.experiment == "smoke"


@pytest.mark.parametrize("override, attr, expected", [
    ("train.epochs=2", ("train", "epochs"), 2),
    ("stages[2].units=5", ("encode", "units"), 5),
    ("stages.train.batch_size=16", ("train", "batch_size"), 16),
    ("encode.cell=gru", ("encode", "cell"), "gru"),
])
def test_overrides_reach_the_validated_config(override, attr, expected):
    config, layered = load_config(REPO / "pipelines" / "sentiment_bilstm.yaml", [override])
    assert getattr(config.stage(attr[0]), attr[1]) == expected
    assert layered.where(("stages",) + attr) == f"-o {override}"


def test_empty_stage_list_is_an_error(write):
    path = write("p.yaml", "name: x\n" + DATA + "stages: []\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}:6: stages: the pipeline needs at least one stage"]


TAGGING = """\
task: tagging
data:
  source: {path: train.conll}
"""


def test_rule_tagging_keeps_the_given_tokens(write, problems):
    path = write("p.yaml", "name: x\n" + TAGGING + "stages:\n  - tokenize: {kind: wordpiece}\n  - tag: {}\n")
    assert problems(load_config, path) == [
        f"{path}:6: stages[0].tokenize.kind: tagging labels the given whitespace-separated tokens, so the tokenizer "
        "must be 'whitespace' (or unset); got 'wordpiece'"]
    chain = "  - embed\n  - encode\n  - tag\n  - train\n"
    for kind in ("{}", "{kind: whitespace}"):
        config, _ = load_config(write("p.yaml", "name: x\n" + TAGGING + f"stages:\n  - tokenize: {kind}\n" + chain))
        assert config.stage("tokenize").kind == "whitespace"  # the task's default when unset


def test_a_key_of_another_task_is_refused_with_the_task_it_belongs_to(write, problems):
    path = write("p.yaml", "name: x\n" + DATA + dedent("""\
        stages:
          - tokenize: {shared: true}
          - embed: {chars: {units: 4}}
          - classify: {}
          - train: {window: 20, label_smoothing: 0.1}
          - evaluate: {shuffled_pairs: 10}
        """))
    assert problems(load_config, path) == [
        f"{path}:7: stages[0].tokenize.shared: 'shared' is a key of task translation; task 'classification' does not "
        "read it; remove it",
        f"{path}:8: stages[1].embed.chars: 'chars' is a key of task tagging; task 'classification' does not read it; "
        "remove it",
        f"{path}:10: stages[3].train.label_smoothing: 'label_smoothing' is a key of task captioning, language_model, "
        "translation; "
        "task 'classification' does not read it; remove it",
        f"{path}:10: stages[3].train.window: 'window' is a key of task language_model; task 'classification' does not "
        "read it; remove it",
        f"{path}:11: stages[4].evaluate.shuffled_pairs: 'shuffled_pairs' is a key of task language_model; task "
        "'classification' does not read it; remove it",
    ]
    config, _ = load_config(write("p.yaml", "name: x\n" + TAGGING + "stages:\n  - tokenize\n"
                                  "  - embed: {chars: {units: 4}}\n  - encode\n  - tag\n  - train\n"))
    assert config.stage("embed").chars.units == 4 and config.stage("embed").chars.dim == 32


def test_a_generic_key_the_task_does_not_read_is_refused(write, problems):
    path = write("p.yaml", "name: x\ntask: language_model\ndata: {source: {path: t.txt}}\n"
                 "stages:\n  - tokenize: {max_length: 10}\n  - evaluate: {metrics: [bleu]}\n")
    assert problems(load_config, path) == [
        f"{path}:5: stages[0].tokenize.max_length: task 'language_model' does not read stages.tokenize.max_length; "
        "remove it",
        f"{path}:6: stages[1].evaluate.metrics: task 'language_model' does not read stages.evaluate.metrics; remove it",
    ]


# -- discriminated unions (decoding strategies): the file's own key path and line ------------

TRANSLATE = f"name: t\nextends: [{REPO / 'pipelines' / 'smoke' / 'translate_en_es.yaml'}]\nstages:\n"


def test_decoding_problems_point_at_their_own_key(write, problems):
    path = write("p.yaml", TRANSLATE + dedent("""\
          - generate:
              decoding:
                strategy: beam
                beam_size: 3
                beam_width: 0
        """))
    assert problems(load_config, path) == [
        f"{path}:8: stages[5].generate.decoding.beam_width: must be greater than or equal to 1; got 0",
        f"{path}:7: stages[5].generate.decoding.beam_size: unknown key 'beam_size'; expected one of strategy, "
        "beam_width, length_penalty, coverage_penalty, n_best (did you mean 'beam_width'?)",
    ]


def test_an_unknown_or_missing_strategy_lists_the_strategies(write, problems):
    from seqpipe.decoding import STRATEGIES

    assert STRATEGIES.names() == ["beam", "greedy", "sampling"]
    path = write("p.yaml", TRANSLATE + dedent("""\
          - generate: {decoding: {strategy: beem, beam_width: 3}}
          - train:
              decoding:
                temperature: 2
          - export: {decoding: beam}
        """))
    assert problems(load_config, path) == [
        # a missing key: at the line of its parent
        f"{path}:6: stages[4].train.decoding.strategy: required key is missing; must be one of beam, greedy, sampling",
        f"{path}:4: stages[5].generate.decoding.strategy: must be one of beam, greedy, sampling; got 'beem' "
        "(did you mean 'beam'?)",
        f"{path}:8: stages[7].export.decoding: must be a mapping with a 'strategy' key (one of beam, greedy, "
        "sampling); got 'beam'",
    ]


def test_the_decoding_union_offers_exactly_the_registered_strategies():
    from seqpipe.config.report import _shape
    from seqpipe.decoding import STRATEGIES, DecodingConfig

    assert sorted(_shape(DecodingConfig).tags) == STRATEGIES.names()


def test_sample_decoding_of_a_language_model(write, problems):
    path = write("p.yaml", f"name: lm\nextends: [{REPO / 'pipelines' / 'smoke' / 'shakespeare_char_lstm.yaml'}]\n"
                 "stages:\n  - sample:\n      decoding: {strategy: sampling, top_p: 1.5, top_k: -1}\n")
    assert problems(load_config, path) == [
        f"{path}:5: stages[5].sample.decoding.top_k: must be greater than or equal to 0; got -1",
        f"{path}:5: stages[5].sample.decoding.top_p: must be less than or equal to 1; got 1.5",
    ]


def test_a_plain_union_is_one_line_without_the_member_names(write, problems):
    path = write("p.yaml", "name: x\ntask: classification\ndata:\n  source: {path: a.csv, columns: {text: [1]}}\n"
                 "stages: [tokenize]\n")
    assert problems(load_config, path) == [
        f"{path}:4: data.source.columns.text: must be a valid string or a valid integer"]


def test_unknown_stage_key_lists_the_keys_the_task_reads(write, problems):
    path = write("p.yaml", "name: x\n" + DATA + "stages:\n  - train: {epochz: 2}\n")
    from seqpipe.config.pipeline import stage_config
    from seqpipe.tasks.base import task_key_owners

    owners = task_key_owners()
    keys = [k for k in stage_config("train").model_fields
            if owners.get(("train", k)) is None or "classification" in owners[("train", k)]]
    assert "window" not in keys and "bucketing" in keys
    assert problems(load_config, path) == [
        f"{path}:7: stages[0].train.epochz: unknown key 'epochz'; expected one of {', '.join(keys)} "
        "(did you mean 'epochs'?)"]


SMOKE = Path(__file__).resolve().parents[3] / "pipelines" / "smoke"


def test_the_language_of_the_texts_is_declared_once_and_scored_in(problems):
    config, _ = load_config(SMOKE / "translate_en_es.yaml", [])
    assert (config.stage("tokenize").language, config.stage("evaluate").language) == ("es", "es")
    config, _ = load_config(SMOKE / "captions_shapes.yaml", [])
    assert (config.stage("tokenize").language, config.stage("evaluate").language) == ("en", "en")
    assert problems(load_config, SMOKE / "translate_en_es.yaml", ["tokenize.language=spanish"]) == [
        "-o tokenize.language=spanish: stages[0].tokenize.language: must be one of ar, da, de, en, es, fi, fr, hu, "
        "it, nl, no, pt, ro, ru, sv; got 'spanish'"]
    assert problems(load_config, SMOKE / "pos_brown_bilstm.yaml", ["tokenize.language=en"]) == [
        "-o tokenize.language=en: stages[0].tokenize.language: 'language' is a key of task captioning, translation; "
        "task 'tagging' does not read it; remove it"]
    # a metric that scores one language only (the COCO METEOR: -l en) is refused for texts in another
    problems_es = problems(load_config, SMOKE / "captions_shapes.yaml", ["tokenize.language=es"])
    assert len(problems_es) == 1 and problems_es[0].endswith(
        "stages[5].evaluate.metrics[4]: meteor_coco scores en only, but the texts are 'es' (tokenize.language); "
        "drop it")
