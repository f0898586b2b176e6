"""The file layouts of data.source: shards (lists and globs), .gz files and line-aligned parallel files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from seqpipe.data import load_data
from seqpipe.data.checks import locate, origin
from seqpipe.data.config import DataConfig
from seqpipe.data.files import check_parallel, format_of, open_binary, resolve_files
from seqpipe.data.layouts import read_files
from seqpipe.errors import DataError

PAIRS = ["source", "target"]


def write(path: Path, lines, *, gz: bool = False, end: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (end.join(lines) + end).encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def tsv(path: Path, rows, *, gz: bool = False) -> Path:
    return write(path, ["text\tlabel"] + ["\t".join(row) for row in rows], gz=gz)


def fixed(train, valid=None, test=None, **data):
    source = {"train": train} | ({"valid": valid} if valid else {}) | ({"test": test} if test else {})
    return DataConfig(source=source, split={"valid": 0, "test": 0}, **data)


def read(spec, base_dir: Path, roles, **options):
    """One split's files as load_data reads them, in file order (load_data shuffles a carved train split)."""
    return read_files(resolve_files(spec, base_dir, "data.source.train"), roles=roles, **options)


def test_a_glob_reads_its_shards_sorted_and_each_row_keeps_its_file_and_line(tmp_path):
    for i in (2, 0, 1):  # written out of order
        tsv(tmp_path / "corpus" / f"train-{i}.tsv", [(f"s{i} r{j}", "pos" if j else "neg") for j in range(2)])
    train = read("corpus/train-*.tsv", tmp_path, ["text", "label"])
    assert train["text"].tolist() == ["s0 r0", "s0 r1", "s1 r0", "s1 r1", "s2 r0", "s2 r1"]
    assert [locate(train, "train", row) for row in (0, 3, 5)] == [
        (str(tmp_path / "corpus" / "train-0.tsv"), "row", 2),
        (str(tmp_path / "corpus" / "train-1.tsv"), "row", 3),
        (str(tmp_path / "corpus" / "train-2.tsv"), "row", 3)]


def test_a_list_of_shards_is_read_in_the_order_written(tmp_path):
    tsv(tmp_path / "b.tsv", [("b", "pos")])
    tsv(tmp_path / "a.tsv", [("a", "neg")])
    assert read(["b.tsv", "a.tsv"], tmp_path, ["text", "label"])["text"].tolist() == ["b", "a"]
    assert [f.name for f in resolve_files(["b.tsv", "a.tsv"], tmp_path, "x").files()] == ["b.tsv", "a.tsv"]


def test_a_glob_matching_nothing_names_the_pattern_and_the_folder(tmp_path):
    (tmp_path / "corpus").mkdir()
    with pytest.raises(DataError) as caught:
        load_data(fixed("corpus/train-*.tsv"), roles=["text", "label"], seed=0, base_dir=tmp_path)
    assert str(caught.value) == (f"data.source.train: no file matches corpus/train-*.tsv "
                                 f"(looked in {tmp_path / 'corpus'})")
    with pytest.raises(DataError, match=r"no file matches nope/\*.en \(looked in .*nope, a folder that does not"):
        resolve_files({"source": "nope/*.en", "target": "x.es"}, tmp_path, "data.source.train")


def test_gzipped_tsv_is_read_transparently_and_its_format_comes_from_the_inner_suffix(tmp_path):
    tsv(tmp_path / "train.tsv.gz", [("a\u00e9 b", "pos"), ("c", "neg")], gz=True)
    parts, _ = load_data(fixed("train.tsv.gz"), roles=["text", "label"], seed=0, base_dir=tmp_path)
    assert sorted(parts["train"].values.tolist()) == [["a\u00e9 b", "pos"], ["c", "neg"]]
    assert (format_of(Path("x/train.tsv.gz")), format_of(Path("t.JSONL")), format_of(Path("t.en.gz"))) == (
        "tsv", "jsonl", None)
    with open_binary(tmp_path / "train.tsv.gz") as handle:
        assert handle.read().startswith(b"text\tlabel\n")


def test_a_damaged_gzip_file_is_one_line(tmp_path):
    (tmp_path / "train.tsv.gz").write_bytes(gzip.compress(b"text\tlabel\na\tpos\n")[:-8])
    with pytest.raises(DataError, match=r"train.tsv.gz: not a valid gzip file \("):
        load_data(fixed("train.tsv.gz"), roles=["text", "label"], seed=0, base_dir=tmp_path)


def test_parallel_gz_shards_pair_in_sorted_order_and_keep_tabs(tmp_path):
    for i in (1, 0):
        write(tmp_path / "c" / f"train-{i}.en.gz", [f"en {i}.{j}\tx" for j in range(3)], gz=True)
        write(tmp_path / "c" / f"train-{i}.es.gz", [f"es {i}.{j}" for j in range(3)], gz=True)
    write(tmp_path / "c" / "dev.en", ["hello"], end="\r\n")
    write(tmp_path / "c" / "dev.es", ["hola"])
    cfg = fixed({"source": "c/train-*.en.gz", "target": "c/train-*.es.gz"},
                valid={"target": "c/dev.es", "source": "c/dev.en"})
    parts, report = load_data(cfg, roles=PAIRS, seed=0, base_dir=tmp_path)
    assert sorted(parts["train"].values.tolist()) == [[f"en {i}.{j}\tx", f"es {i}.{j}"] for i in (0, 1)
                                                      for j in range(3)]
    assert parts["valid"].values.tolist() == [["hello", "hola"]]
    assert not report
    train = read({"source": "c/train-*.en.gz", "target": "c/train-*.es.gz"}, tmp_path, PAIRS)
    assert train["source"].tolist() == [f"en {i}.{j}\tx" for i in (0, 1) for j in range(3)]
    assert locate(train, "train", 4) == (str(tmp_path / "c" / "train-1.en.gz"), "line", 2)
    files = resolve_files({"source": "c/train-*.en.gz", "target": "c/train-*.es.gz"}, tmp_path, "t")
    assert (files.kind, files.roles()) == ("parallel", PAIRS)
    assert [p.name for p in files.files()] == ["train-0.en.gz", "train-0.es.gz", "train-1.en.gz", "train-1.es.gz"]
    assert check_parallel(files) == [3, 3]


def test_parallel_files_of_different_lengths_name_both_files_and_counts(tmp_path):
    write(tmp_path / "train.en", ["a", "b", "c"])
    write(tmp_path / "train.es", ["x", "y"], gz=False, end="\r\n")
    with pytest.raises(DataError) as caught:
        load_data(fixed({"source": "train.en", "target": "train.es"}), roles=PAIRS, seed=0, base_dir=tmp_path)
    assert str(caught.value) == (f"{tmp_path / 'train.en'} has 3 lines but {tmp_path / 'train.es'} has 2; "
                                 "parallel files hold one example per line, line for line (data.source.train)")


def test_parallel_shard_counts_must_match(tmp_path):
    for name in ("a-0.en", "a-1.en", "a-0.es"):
        write(tmp_path / name, ["x"])
    with pytest.raises(DataError, match=r"data.source.train: 2 shards for source \(a-\*.en\) but 1 shard for "
                                        r"target \(a-\*.es\)"):
        resolve_files({"source": "a-*.en", "target": "a-*.es"}, tmp_path, "data.source.train")


def test_a_bad_line_in_a_parallel_gz_shard_names_its_file_and_line_or_is_counted(tmp_path):
    write(tmp_path / "p-0.en.gz", ["a", "b"], gz=True)
    write(tmp_path / "p-0.es.gz", ["x", "y"], gz=True)
    write(tmp_path / "p-1.en.gz", ["c", "d", "e"], gz=True)
    write(tmp_path / "p-1.es.gz", ["z", "   ", "w"], gz=True)  # line 2 is blank
    spec = {"source": "p-*.en.gz", "target": "p-*.es.gz"}
    bad = tmp_path / "p-1.es.gz"
    with pytest.raises(DataError) as caught:
        load_data(fixed(spec), roles=PAIRS, seed=0, base_dir=tmp_path)
    assert str(caught.value) == (f"{bad} line 2: empty line; expected one example per line "
                                 "(data.on_error: skip drops such rows)")
    parts, report = load_data(fixed(spec, on_error="skip"), roles=PAIRS, seed=0, base_dir=tmp_path)
    assert sorted(parts["train"].values.tolist()) == [["a", "x"], ["b", "y"], ["c", "z"], ["e", "w"]]
    assert report.skipped == {str(bad): 1} and report.total == 1
    assert report.examples == [f"{bad} line 2: empty line; expected one example per line"]
    train = read(spec, tmp_path, PAIRS, on_error="skip")
    assert locate(train, "train", 3) == (str(tmp_path / "p-1.en.gz"), "line", 3)


def test_max_tokens_and_non_utf8_lines_in_parallel_files(tmp_path):
    write(tmp_path / "t.en", ["one two three", "ok"])
    (tmp_path / "t.es").write_bytes(b"uno\nbien \xff\n")
    with pytest.raises(DataError) as caught:
        load_data(fixed({"source": "t.en", "target": "t.es"}, max_tokens=2), roles=PAIRS, seed=0,
                  base_dir=tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 't.en'} line 1: 3 tokens in the source file; expected at most 2 "
                              "(data.max_tokens)")
    assert f"other problems at {tmp_path / 't.es'} line 2" in message


def test_a_parallel_role_that_nothing_reads_is_refused_at_load_time(tmp_path):
    write(tmp_path / "t.en", ["a"])
    write(tmp_path / "t.es", ["b"])
    with pytest.raises(DataError) as caught:
        load_data(fixed({"source": "t.en", "targte": "t.es"}), roles=PAIRS, seed=0, base_dir=tmp_path)
    assert str(caught.value) == ("data.source.train.targte: unknown role 'targte'; parallel files are given per "
                                 "role, one of source, target (did you mean 'target'?)")


def test_parallel_files_with_a_tagging_task_and_a_carved_split(tmp_path):
    write(tmp_path / "s.tok", [f"w{i} x" for i in range(20)])
    write(tmp_path / "s.tag", ["N V"] * 20)
    cfg = DataConfig(source={"path": {"tokens": "s.tok", "tags": "s.tag"}}, split={"valid": 0.1, "test": 0.1})
    parts, _ = load_data(cfg, roles=["tokens", "tags"], seed=0, base_dir=tmp_path)
    assert {name: len(part) for name, part in parts.items()} == {"train": 16, "valid": 2, "test": 2}
    assert origin(parts["test"]).file == str(tmp_path / "s.tok")


def test_table_keys_are_refused_when_every_file_is_parallel():
    with pytest.raises(ValueError, match="source.columns applies to table files; parallel files"):
        DataConfig(source={"train": {"source": "a.en", "target": "a.es"}, "columns": {"source": "en"}})
    DataConfig(source={"train": {"source": "a.en", "target": "a.es"}, "valid": "dev.tsv", "format": "tsv"})
