"""The config commands of the CLI (validate, render, schema, list, docs), run in-process.

None of them may import TensorFlow; one subprocess test proves it for validate and render.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from seqpipe.cli import main

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "pipelines" / "sentiment_bilstm.yaml"
PIPELINES = sorted((REPO / "pipelines").glob("*.yaml"))
SMOKE = sorted((REPO / "pipelines" / "smoke").glob("*.yaml"))

TYPOS = """\
name: typos
task: classification
data:
  source: {recipe: sms-spam}
stages:
  - tokenize: {kind: wordpeice}
  - embed: {}
  - encode: {cell: lstmm}
  - classify: {}
  - train: {optimizer: {name: adamm}}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = (tmp_path / name).resolve()
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_validate_ok(capsys):
    assert main(["validate", str(PIPELINE)]) == 0
    out, err = capsys.readouterr()
    assert out == (f"{PIPELINE}: ok (classification; stages: "
                   "tokenize -> embed -> encode -> classify -> train -> evaluate -> export)\n")
    assert err == ""


def test_validate_with_overrides(capsys):
    assert main(["validate", str(PIPELINE), "-o", "train.epochs=2", "--override", "encode.cell=gru"]) == 0
    assert capsys.readouterr().out.endswith("ok (classification; stages: "
                                            "tokenize -> embed -> encode -> classify -> train -> evaluate -> export)\n")


def test_validate_typos_exit_2_with_every_problem_on_stderr(tmp_path, capsys):
    path = _write(tmp_path, "typos.yaml", TYPOS)
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}:6: stages[0].tokenize.kind: must be one of bpe, char, sentencepiece, tree, whitespace, word, "
        "wordpiece; "
        "got 'wordpeice' (did you mean 'wordpiece'?)",
        f"{path}:8: stages[2].encode.cell: must be one of esn, gru, layer_norm_lstm, leaky_rnn, lstm, ntm, rnn; "
        "got 'lstmm' (did you mean 'lstm'?)",
        f"{path}:10: stages[4].train.optimizer.name: must be one of adam, adamw, nadam, rmsprop, sgd; "
        "got 'adamm' (did you mean 'adam'?)",
    ]
    assert "Traceback" not in out + err


def test_validate_bad_override_exit_2(capsys):
    assert main(["validate", str(PIPELINE), "-o", "train.epochs"]) == 2
    out, err = capsys.readouterr()
    assert err == "-o train.epochs: expected key.path=value\n"
    assert "Traceback" not in out + err


def test_validate_yaml_error_exit_2(tmp_path, capsys):
    path = _write(tmp_path, "bad.yaml", "name: x\nseed: [1\n")
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err == f"{path}:3: not valid YAML: expected ',' or ']', but got '<stream end>'\n"
    assert "Traceback" not in out + err


def test_validate_missing_file_exit_2(tmp_path, capsys):
    path = (tmp_path / "nope.yaml").resolve()
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}: file not found: {path}\n"


def test_validate_reports_a_broken_stage_chain(tmp_path, capsys):
    path = _write(tmp_path, "chain.yaml", """\
        name: chain
        task: classification
        data:
          source: {recipe: sms-spam}
        stages:
          - tokenize: {}
          - encode: {}
        """)
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"{path}:7: stages[1].encode: stage 'encode' needs 'embedded', which no earlier stage provides; "
                   "add the 'embed' stage before it\n")


def test_validate_and_render_do_not_import_tensorflow(tmp_path):
    code = textwrap.dedent(f"""\
        import sys
        from seqpipe.cli import main
        rc = main(['validate', {str(PIPELINE)!r}])
        rc = rc or main(['render', {str(PIPELINE)!r}, '-o', 'train.epochs=2'])
        assert 'tensorflow' not in sys.modules, 'tensorflow was imported'
        assert 'keras' not in sys.modules, 'keras was imported'
        raise SystemExit(rc)
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{PIPELINE}: ok (classification; stages: ")
    assert "\nname: sentiment-bilstm\n" in proc.stdout
    assert "epochs: 2\n" in proc.stdout


def test_render_prints_yaml_that_revalidates_to_the_same_config(tmp_path, capsys):
    from seqpipe.config.report import load_config

    assert main(["render", str(PIPELINE), "-o", "train.epochs=3"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    rendered = yaml.safe_load(out)
    assert "extends" not in rendered
    from seqpipe.config.pipeline import stage_config
    from seqpipe.tasks.base import task_key_owners

    fragment = yaml.safe_load((REPO / "configs" / "training" / "adam_clip.yaml").read_text())["stages"][0]["train"]
    expected = stage_config("train").model_validate({**fragment, "epochs": 3}).model_dump(mode="json")
    owners = task_key_owners()  # keys other tasks add to the train stage are not shown
    expected = {k: v for k, v in expected.items() if "classification" in owners.get(("train", k), {"classification"})}
    assert rendered["stages"][4] == {"train": expected}  # fragment values, the override, every default
    assert "bucketing" in expected and "window" not in expected
    path = tmp_path / "rendered.yaml"
    path.write_text(out, encoding="utf-8")
    original, _ = load_config(PIPELINE, ["train.epochs=3"])
    again, _ = load_config(path)
    assert again == original
    assert main(["render", str(path)]) == 0
    assert capsys.readouterr().out == out  # rendering is a fixed point


def test_render_typos_exit_2(tmp_path, capsys):
    path = _write(tmp_path, "typos.yaml", TYPOS)
    assert main(["render", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 3
    assert "Traceback" not in err


def test_schema_is_json_with_registry_enums(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "seqpipe pipeline"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"name", "task", "data", "stages"}
    items = schema["properties"]["stages"]["items"]["oneOf"]
    refs = sorted(item["$ref"].rsplit("/", 1)[1] for item in items)
    assert refs == ["CaptionStage", "ClassifyStage", "DecodeStage", "DescribeStage", "EmbedStage", "EncodeStage",
                    "EvaluateStage", "ExportStage", "GenerateStage", "LmStage", "RegressStage", "SampleStage",
                    "SeeStage", "TagStage", "TokenizeStage", "TrainStage"]
    defs = schema["$defs"]
    encode_stage = defs["EncodeStage"]
    assert encode_stage["required"] == ["encode"]
    assert encode_stage["additionalProperties"] is False
    encode_ref = encode_stage["properties"]["encode"]["$ref"].rsplit("/", 1)[1]
    cell = defs[encode_ref]["properties"]["cell"]
    names, mappings = cell["anyOf"]  # a name, or {kind: name, option: value, ...}
    assert names["enum"] == ["esn", "gru", "layer_norm_lstm", "leaky_rnn", "lstm", "ntm", "rnn"]
    assert {m["properties"]["kind"]["const"] for m in mappings["oneOf"]} == set(names["enum"])
    assert cell["default"] == "lstm"
    kind = defs["TokenizeConfig"]["properties"]["kind"]
    assert kind["anyOf"] == [{"enum": ["bpe", "char", "sentencepiece", "tree", "whitespace", "word", "wordpiece"],
                              "type": "string"},
                             {"type": "null"}]
    assert kind["default"] is None  # the task picks it: whitespace for tagging, word otherwise
    assert defs["TrackingConfig"]["properties"]["backend"]["enum"] == ["mlflow", "none"]


def test_schema_output_file(tmp_path, capsys):
    out_file = tmp_path / "schema.json"
    assert main(["schema", "-O", str(out_file)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"wrote {out_file}\n"
    assert main(["schema"]) == 0
    assert out_file.read_text(encoding="utf-8") == capsys.readouterr().out


def test_list_prints_every_registry(capsys):
    import seqpipe.stages  # noqa: F401
    from seqpipe.cells import CELLS
    from seqpipe.data.recipes import DATASETS
    from seqpipe.decoding import STRATEGIES
    from seqpipe.layers import ATTENTIONS
    from seqpipe.metrics import METRICS
    from seqpipe.pipeline.stage import STAGES
    from seqpipe.tasks import TASKS
    from seqpipe.text import TOKENIZERS
    from seqpipe.tracking import TRACKERS

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    expected = []
    headers = ["tasks:", "stages:", "cells:", "attentions:", "tokenizers:", "decoding strategies:", "datasets:",
               "metrics:", "trackers:"]
    for header, registry in zip(headers, (TASKS, STAGES, CELLS, ATTENTIONS, TOKENIZERS, STRATEGIES, DATASETS, METRICS,
                                          TRACKERS)):
        expected.append(header)
        expected += [f"  {name:<20} {registry.describe(name)}" for name in registry.names()]
    assert out.splitlines() == expected
    assert "  lstm                 LSTM (Hochreiter & Schmidhuber); cuDNN kernel with the defaults" in out.splitlines()


def test_list_one_kind(capsys):
    assert main(["list", "cells"]) == 0
    assert capsys.readouterr().out == (
        "cells:\n"
        "  esn                  echo state network: fixed random reservoir, not trained (Jaeger 2001); no cuDNN "
        "kernel\n"
        "  gru                  GRU (Cho et al., reset_after=True); cuDNN kernel with the defaults\n"
        "  layer_norm_lstm      LSTM with layer-normalised gates and cell state (Ba et al. 2016); no cuDNN kernel\n"
        "  leaky_rnn            leaky-integrator units, fixed or learned time constants (Jaeger et al. 2007); no "
        "cuDNN kernel\n"
        "  lstm                 LSTM (Hochreiter & Schmidhuber); cuDNN kernel with the defaults\n"
        "  ntm                  Neural Turing Machine: LSTM or dense controller with read/write heads over a memory "
        "(Graves et al. 2014); no cuDNN kernel\n"
        "  rnn                  Elman RNN (keras SimpleRNN; activation tanh or relu); no cuDNN kernel\n"
    )


def test_docs_writes_the_markdown_reference(tmp_path, capsys):
    from seqpipe.config.docs import config_reference

    out_file = tmp_path / "config.md"
    assert main(["docs", "--output", str(out_file)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"wrote {out_file}\n"
    text = out_file.read_text(encoding="utf-8")
    assert text == config_reference()
    assert text.startswith("# Pipeline configuration reference\n")
    for name in ("tokenize", "embed", "encode", "train", "evaluate", "export"):
        assert f"\n## stage `{name}`\n" in text
    assert "\n## stage `classify` (task classification)\n" in text
    assert "| `units` | int | `128` | units per direction in each layer (transformer: the model width" in text
    assert "| `window` | int | `100` | *task language_model:* tokens per training window" in text  # whose key it is
    assert "| `bucketing` | bool | `true` | *task classification, regression, tagging, translation:* " in text
    assert "| `name` | str | **required** |" in text


def test_committed_config_reference_is_up_to_date():
    from seqpipe.config.docs import config_reference

    committed = REPO / "docs" / "config.md"
    assert committed.read_text(encoding="utf-8") == config_reference(), (
        "docs/config.md is out of date; regenerate it with: seqpipe docs")


@pytest.mark.parametrize("path", PIPELINES + SMOKE, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_pipeline_validates(path, capsys):
    from seqpipe.config.report import load_config

    task = load_config(path)[0].task
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith(f"{path}: ok ({task}; stages: ")


def test_pipelines_are_found():
    assert PIPELINE in PIPELINES
    assert len(SMOKE) >= 1


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_every_pipeline_has_a_smoke_variant(path):
    smoke = REPO / "pipelines" / "smoke" / path.name
    assert smoke.is_file(), f"pipelines/smoke/{path.name} is missing: add a fast variant of {path.name}"


def test_list_unknown_kind_is_a_one_line_error(capsys):
    assert main(["list", "strategys"]) == 2
    assert capsys.readouterr().err == (
        "list: unknown kind 'strategys'; expected one of tasks, stages, cells, attentions, tokenizers, strategies, "
        "datasets, metrics, trackers (did you mean 'strategies'?)\n")
    assert main(["list", "strategy"]) == 0 and capsys.readouterr().out.startswith("decoding strategies:\n")
