"""embed.pretrained / embed.trainable at validation time (no TensorFlow): refusals, the file checks, cache keys."""

from __future__ import annotations

import gzip
import os

import pytest

from seqpipe.cli import main

PIPELINE = """\
name: p
task: classification
data:
  source: {path: data.tsv}
stages:
  - tokenize: {kind: word}
  - embed: {dim: 3, pretrained: vectors.txt}
  - encode: {}
  - classify: {}
  - train: {}
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "vectors.txt").write_text("2 3\nthe 1 2 3\nfilm 4 5 6\n", encoding="utf-8")
    return tmp_path


def validate(path, *overrides, capsys):
    code = main(["validate", str(path), *[a for o in overrides for a in ("-o", o)]])
    out, err = capsys.readouterr()
    return code, out, err.strip().splitlines()


def test_a_matching_file_validates(write, folder, capsys):
    path = write("p.yaml", PIPELINE)
    code, out, err = validate(path, capsys=capsys)
    assert (code, err) == (0, []) and out.startswith(f"{path}: ok")


def test_a_dimension_mismatch_names_both_at_the_dim_line(write, folder, capsys):
    path = write("p.yaml", PIPELINE.replace("dim: 3", "dim: 128"))
    code, _, err = validate(path, capsys=capsys)
    assert code == 2
    assert err == [f"{path}:7: stages[1].embed.dim: 128 does not match the 3-dimensional vectors in vectors.txt; "
                   "set dim: 3"]


def test_the_dimension_is_read_from_a_gzip_file_without_header(write, folder, capsys):
    (folder / "v.gz").write_bytes(gzip.compress(b"the 1 2 3 4\n" + b"x" * 10_000))  # a broken line later: not read
    path = write("p.yaml", PIPELINE.replace("vectors.txt", "v.gz"))
    code, _, err = validate(path, capsys=capsys)
    assert code == 2 and err == [f"{path}:7: stages[1].embed.dim: 3 does not match the 4-dimensional vectors in "
                                 "v.gz; set dim: 4"]


def test_an_unset_dim_is_reported_at_the_embed_line(write, folder, capsys):
    path = write("p.yaml", PIPELINE.replace("dim: 3, ", ""))
    code, _, err = validate(path, capsys=capsys)
    assert code == 2 and err == [f"{path}:7: stages[1].embed.dim: 128 does not match the 3-dimensional vectors in "
                                 "vectors.txt; set dim: 3"]


def test_a_missing_or_empty_file_is_a_validation_error(write, folder, capsys):
    path = write("p.yaml", PIPELINE.replace("vectors.txt", "nope.txt"))
    code, _, err = validate(path, capsys=capsys)
    assert code == 2 and err == [f"{path}:7: stages[1].embed.pretrained: cannot use the word vectors: "
                                 f"{folder / 'nope.txt'}: no such file"]
    (folder / "empty.txt").write_text("", encoding="utf-8")
    path = write("p.yaml", PIPELINE.replace("vectors.txt", "empty.txt"))
    code, _, err = validate(path, capsys=capsys)
    assert code == 2 and err == [f"{path}:7: stages[1].embed.pretrained: cannot use the word vectors: "
                                 f"{folder / 'empty.txt'}: the file is empty; expected one word and its values "
                                 "per line"]


def test_relative_paths_follow_the_pipeline_file_and_overrides_the_working_directory(write, folder, capsys,
                                                                                     monkeypatch, tmp_path_factory):
    path = write("sub/p.yaml", PIPELINE.replace("vectors.txt", "../vectors.txt"))
    assert validate(path, capsys=capsys)[0] == 0
    elsewhere = tmp_path_factory.mktemp("cwd")
    (elsewhere / "mine.txt").write_text("the 1 2\n", encoding="utf-8")
    monkeypatch.chdir(elsewhere)
    code, _, err = validate(path, "embed.pretrained=mine.txt", capsys=capsys)
    assert code == 2 and err == [f"{path}:7: stages[1].embed.dim: 3 does not match the "
                                 f"2-dimensional vectors in {elsewhere / 'mine.txt'}; set dim: 2"]


@pytest.mark.parametrize("overrides, line", [
    (["tokenize.kind=char"], "stages[1].embed.pretrained: word vectors need a word-level vocabulary (tokenize.kind "
                             "tree, whitespace, word); got tokenize.kind 'char'"),
    (["tokenize.kind=wordpiece"], "stages[1].embed.pretrained: word vectors need a word-level vocabulary "
                                  "(tokenize.kind tree, whitespace, word); got tokenize.kind 'wordpiece'"),
])
def test_subword_and_char_vocabularies_are_refused(write, folder, capsys, overrides, line):
    path = write("p.yaml", PIPELINE)
    code, _, err = validate(path, *overrides, capsys=capsys)
    assert code == 2 and err == [f"{path}:7: {line}"]


def test_keys_that_would_not_be_read_are_refused(write, folder, capsys):
    path = write("p.yaml", PIPELINE.replace("pretrained: vectors.txt", "trainable: false"))
    code, _, err = validate(path, capsys=capsys)
    assert code == 2 and err == [f"{path}:7: stages[1].embed.trainable: not read without pretrained (learned "
                                 "embeddings always train); remove it"]
    path = write("p.yaml", PIPELINE.replace("dim: 3", "kind: one_hot"))
    code, _, err = validate(path, capsys=capsys)
    assert code == 2 and err == [f"{path}:7: stages[1].embed.pretrained: not read with kind: one_hot (one-hot "
                                 "vectors have no weights to take from a file); set kind: learned or remove it"]


def test_pretrained_trainable_false_is_accepted(write, folder, capsys):
    path = write("p.yaml", PIPELINE.replace("pretrained: vectors.txt", "pretrained: vectors.txt, trainable: false"))
    assert validate(path, capsys=capsys)[0] == 0


def test_a_changed_vectors_file_changes_the_stage_cache_keys(folder):
    from seqpipe.pipeline.cache import StageCache
    from seqpipe.stages.embed import EmbedConfig, EmbedStage

    stage = EmbedStage(EmbedConfig(dim=3, pretrained="vectors.txt"))
    assert EmbedStage(EmbedConfig(dim=3)).cache_inputs(folder) is None
    before = stage.cache_inputs(folder)
    (folder / "vectors.txt").write_text("2 3\nthe 1 2 3\nfilm 4 5 7\n", encoding="utf-8")
    os.utime(folder / "vectors.txt", ns=(1, 1))
    after = stage.cache_inputs(folder)
    assert before != after and after[1:] == [(folder / "vectors.txt").stat().st_size, 1]

    def keys(inputs):
        cache = StageCache(None, {"stages": [{"embed": {"dim": 3}}, {"train": {}}]}, {}, enabled=False)
        cache.chain = "start"
        return cache.advance("embed", inputs), cache.advance("train")

    assert keys(before) != keys(after)  # the train stage after it gets a new key too
    assert keys(None) == keys(None)


def test_render_leaves_the_unused_keys_out_and_its_output_validates_again(write, folder, capsys):
    import yaml

    for text, keys in ((PIPELINE.replace("pretrained: vectors.txt", "dropout: 0.1"), {"kind", "dim", "dropout"}),
                       (PIPELINE, {"kind", "dim", "dropout", "pretrained", "trainable"})):
        path = write("p.yaml", text)
        assert main(["render", str(path)]) == 0
        rendered = yaml.safe_load(capsys.readouterr().out)
        embed = next(e["embed"] for e in rendered["stages"] if "embed" in e)
        assert set(embed) == keys
        again = write("again.yaml", yaml.safe_dump(rendered))
        assert validate(again, capsys=capsys)[0] == 0
