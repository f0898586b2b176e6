"""A relative path typed in -o is taken from the working directory; in a pipeline file, from the file's folder."""

from __future__ import annotations

import yaml

from seqpipe import api
from seqpipe.cli import main
from seqpipe.config.paths import absolute_paths, annotation_at
from seqpipe.data import load_data

PIPELINE = """\
name: paths
task: classification
tracking: {backend: none}
data:
  source: {train: data/train.tsv}
  split: {valid: 0, test: 0}
stages:
  - tokenize: {}
  - embed: {dim: 4}
  - encode: {units: 4}
  - classify: {}
  - train: {epochs: 1, monitor: loss}
"""


def tsv(path, texts):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("text\tlabel\n" + "".join(f"{t}\t{'pos' if i % 2 else 'neg'}\n" for i, t in enumerate(texts)),
                    encoding="utf-8")


def setup(tmp_path, monkeypatch):
    """pipelines/smoke/p.yaml (its own data beside it) and a working directory holding g.tsv."""
    pipe = tmp_path / "pipelines" / "smoke" / "p.yaml"
    pipe.parent.mkdir(parents=True)
    pipe.write_text(PIPELINE, encoding="utf-8")
    tsv(pipe.parent / "data" / "train.tsv", ["from the file's folder", "x"])
    work = tmp_path / "work"
    tsv(work / "g.tsv", ["from the working directory", "y"])
    monkeypatch.chdir(work)
    return pipe, work


def texts(config, base):
    parts, _ = load_data(config.data, roles=["text", "label"], seed=0, base_dir=base)
    return sorted(parts["train"]["text"])


def test_an_override_path_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    pipe, work = setup(tmp_path, monkeypatch)
    shown = "../pipelines/smoke/p.yaml"
    config, _, base = api.load(shown)
    assert config.data.source.train == "data/train.tsv"  # in the file: as written, from the file's folder
    assert texts(config, base) == ["from the file's folder", "x"]
    config, _, base = api.load(shown, ["data.source.train=g.tsv"])
    assert config.data.source.train == str(work / "g.tsv")
    assert base == pipe.parent
    assert texts(config, base) == ["from the working directory", "y"]


def test_lists_mappings_and_whole_sections_given_by_override(tmp_path, monkeypatch):
    pipe, work = setup(tmp_path, monkeypatch)
    config, _, _ = api.load(pipe, ["data.source={train: [a.tsv, /abs/b.tsv, 'c/*.tsv'], valid: ~/v.tsv}"])
    assert config.data.source.train == [str(work / "a.tsv"), "/abs/b.tsv", str(work / "c" / "*.tsv")]
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config, _, _ = api.load(pipe, ["data.source={train: a.tsv, valid: ~/v.tsv}"])
    assert config.data.source.valid == "~/v.tsv"  # ~ is absolute already, expanded when the data is read
    config, _, _ = api.load(pipe, ["data.source.train={text: [t-0.txt, t-1.txt], label: l.txt}"])
    assert config.data.source.train == {"text": [str(work / "t-0.txt"), str(work / "t-1.txt")],
                                        "label": str(work / "l.txt")}


def test_only_file_relative_path_fields_are_rewritten(tmp_path, monkeypatch):
    pipe, _ = setup(tmp_path, monkeypatch)
    config, _, _ = api.load(pipe, ["output_dir=out/runs", "tracking.run_name=g.tsv", "data.split.group_by=g.tsv"])
    assert (config.output_dir, config.tracking.run_name, config.data.split.group_by) == ("out/runs", "g.tsv", "g.tsv")
    assert annotation_at(("data", "source", "train", "source")) is not None
    assert annotation_at(("stages", "nope", "x")) is None
    assert absolute_paths(("data", "source", "path"), "a.tsv", tmp_path) == str(tmp_path / "a.tsv")
    assert absolute_paths(("data", "source", "limit"), "a.tsv", tmp_path) == "a.tsv"


def test_the_cli_renders_the_override_path_from_the_working_directory(tmp_path, monkeypatch, capsys):
    pipe, work = setup(tmp_path, monkeypatch)
    assert main(["render", str(pipe), "-o", "data.source.train=g.tsv"]) == 0
    rendered = yaml.safe_load(capsys.readouterr().out)
    assert rendered["data"]["source"]["train"] == str(work / "g.tsv")
    assert main(["render", str(pipe)]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["data"]["source"]["train"] == "data/train.tsv"


def test_a_parallel_role_the_task_does_not_read_is_a_validation_error(tmp_path, monkeypatch, capsys):
    pipe, _ = setup(tmp_path, monkeypatch)
    assert main(["validate", str(pipe), "-o", "data.source.train={text: a.txt, lable: b.txt}"]) == 2
    err = capsys.readouterr().err
    assert ("-o data.source.train={text: a.txt, lable: b.txt}: data.source.train.lable: unknown role 'lable'; "
            "parallel files are given per role, one of text, label (what task 'classification' reads) "
            "(did you mean 'label'?)") in err
    assert "data.source.train: no file for label; parallel files give one file per role that task " \
           "'classification' reads: text, label" in err


def test_a_sweep_files_paths_stay_relative_to_the_file_and_grid_paths_to_the_working_directory(tmp_path,
                                                                                                monkeypatch):
    from seqpipe.sweep import run_sweep

    pipe, work = setup(tmp_path, monkeypatch)
    pipe.write_text(PIPELINE + "sweep: {params: {data.source.train: [data/train.tsv, data/other.tsv]}}\n",
                    encoding="utf-8")
    result = run_sweep(pipe, dry_run=True, print_line=lambda line: None)
    assert [t.settings for t in result.trials] == [
        {"data.source.train": str(pipe.parent / "data" / "train.tsv")},
        {"data.source.train": str(pipe.parent / "data" / "other.tsv")}]
    result = run_sweep(pipe, grid={"data.source.train": ["g.tsv"]}, dry_run=True, print_line=lambda line: None)
    assert [t.settings for t in result.trials] == [{"data.source.train": "g.tsv"}]  # -o takes it from work/
    config, _, _ = api.load(pipe, result.trials[0].overrides())
    assert config.data.source.train == str(work / "g.tsv")
