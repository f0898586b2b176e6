"""The streamed training split: order a function of (seed, epoch, shards), bad rows as in memory, bounded samples,
tokenization in the tf.data graph with the model's own encoder, batches by bucket or token budget."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from seqpipe.data.batching import stream_epochs
from seqpipe.data.sample import training_sample
from seqpipe.data.stream import PROBLEMS, SkipCounter, StreamedSplit
from seqpipe.errors import DataError

ROLES = ["source", "target"]


def parallel(folder: Path, shards: int = 3, rows: int = 7, gz: bool = True) -> tuple[dict[str, Path], ...]:
    out = []
    for s in range(shards):
        paths = {}
        for role, tag in (("source", "en"), ("target", "es")):
            path = folder / (f"train-{s}.{tag}" + (".gz" if gz else ""))
            text = "".join(f"{tag} {s} {i}\n" for i in range(rows))
            if gz:
                with gzip.open(path, "wt", encoding="utf-8") as handle:
                    handle.write(text)
            else:
                path.write_text(text, encoding="utf-8")
            paths[role] = path
        out.append(paths)
    return tuple(out)


def read(ds) -> list[tuple[str, str]]:
    return [(r["source"].decode(), r["target"].decode()) for r in ds.as_numpy_iterator()]


def test_order_depends_on_the_seed_the_epoch_and_the_shards_only(tmp_path):
    shards = parallel(tmp_path)
    split = StreamedSplit("parallel", shards, ROLES, seed=3, shuffle_buffer=4)
    first = read(split.rows(0))
    assert len(first) == 21 and all(a.split()[1:] == b.split()[1:] for a, b in first)  # aligned lines
    assert read(split.rows(0)) == first  # the same epoch again
    assert read(StreamedSplit("parallel", shards, ROLES, seed=3, shuffle_buffer=4).rows(0)) == first  # a new object
    second = read(split.rows(1))
    assert second != first and sorted(second) == sorted(first)  # another epoch: a permutation of the same rows
    assert read(StreamedSplit("parallel", shards, ROLES, seed=4, shuffle_buffer=4).rows(0)) != first
    assert read(StreamedSplit("parallel", shards[:2], ROLES, seed=3, shuffle_buffer=4).rows(0)) != first
    assert read(split.rows(tf.constant(1, tf.int64))) == second  # a tensor epoch, as fit's epochs give it


def test_tsv_shards_read_by_header_name_and_plain_or_gzip(tmp_path):
    (tmp_path / "a.tsv").write_text("id\ttarget\tsource\n1\tuno\tone\n2\tdos\ttwo\n", encoding="utf-8")
    with gzip.open(tmp_path / "b.tsv.gz", "wt", encoding="utf-8") as handle:
        handle.write("id\ttarget\tsource\n3\ttres\tthree\n")
    split = StreamedSplit("table", ({"table": tmp_path / "a.tsv"}, {"table": tmp_path / "b.tsv.gz"}), ROLES, seed=1)
    assert sorted(read(split.rows(0))) == [("one", "uno"), ("three", "tres"), ("two", "dos")]
    (tmp_path / "c.tsv").write_text("source\ttarget\nx\ty\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"c\.tsv line 1: header .*expected the header of .*a\.tsv"):
        StreamedSplit("table", ({"table": tmp_path / "a.tsv"}, {"table": tmp_path / "c.tsv"}), ROLES, seed=1)


BAD = "source\ttarget\na\tb\n\tc\nx\ty\tz\nok\tfine\n\nlong one two three\tfour\n"


@pytest.mark.parametrize("max_tokens", [None, 2])
def test_bad_rows_fail_with_the_file_and_row_or_are_counted_per_problem(tmp_path, max_tokens):
    (tmp_path / "bad.tsv").write_text(BAD, encoding="utf-8")
    shards = ({"table": tmp_path / "bad.tsv"},)
    failing = StreamedSplit("table", shards, ROLES, seed=1, max_tokens=max_tokens)
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        read(failing.rows(0))
    error = failing.bad_row(raised.value)
    assert isinstance(error, DataError)
    assert str(error).startswith(f"{tmp_path / 'bad.tsv'} row 3: empty value")  # the first bad row of the file
    assert "data.on_error: skip" in str(error)
    skipping = StreamedSplit("table", shards, ROLES, seed=1, on_error="skip", max_tokens=max_tokens)
    counts = tf.Variable(tf.zeros([1, len(PROBLEMS)], tf.int64))
    kept = sorted(read(skipping.rows(0, counts)))
    expected = {1: 1, 2: 1, 3: 1} | ({5: 1} if max_tokens else {})
    assert counts.numpy()[0].tolist() == [expected.get(code, 0) for code in range(len(PROBLEMS))]
    assert kept == sorted([("a", "b"), ("ok", "fine")] + ([] if max_tokens else [("long one two three", "four")]))


def test_invalid_utf8_is_a_bad_row_in_the_stream_and_in_the_sample(tmp_path):
    (tmp_path / "x.tsv").write_bytes(b"source\ttarget\ngood\trow\nbad \xff\trow\n")
    split = StreamedSplit("table", ({"table": tmp_path / "x.tsv"},), ROLES, seed=1)
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        read(split.rows(0))
    assert "row 3: not UTF-8" in str(split.bad_row(raised.value))
    with pytest.raises(DataError, match=r"x\.tsv row 3: not UTF-8"):
        split.sample(10)


def test_parallel_files_of_different_lengths_stop_even_when_skipping(tmp_path):
    shards = parallel(tmp_path, shards=1, rows=5, gz=False)
    shards[0]["target"].write_text("a\nb\nc\nd\n", encoding="utf-8")
    split = StreamedSplit("parallel", shards, ROLES, seed=1, on_error="skip")
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        read(split.rows(0, tf.Variable(tf.zeros([1, len(PROBLEMS)], tf.int64))))
    message = str(split.bad_row(raised.value))
    assert message == (f"parallel files differ in length: {shards[0]['source']} has 5 lines, {shards[0]['target']} "
                       "has 4; expected one line per example in each")
    with pytest.raises(DataError, match="differ in length"):
        split.sample(3)


def test_the_vocabulary_sample_is_seeded_uniform_and_bounded(tmp_path):
    split = StreamedSplit("parallel", parallel(tmp_path, shards=4, rows=50), ROLES, seed=7)
    rows, seen = split.sample(20)
    assert seen == 200 and len(rows) == 20 and len({tuple(r) for r in rows}) == 20
    assert split.sample(20) == (rows, seen)  # seeded
    assert {r[0].split()[1] for r in rows} == {"0", "1", "2", "3"}  # drawn from every shard, not the first lines
    frame, total = training_sample(split, 20, 7)
    assert list(frame.columns) == ROLES and len(frame) == 20 and total == 200
    whole, total = training_sample(split, 1000, 7)
    assert len(whole) == 200 and total == 200
    table = pd.DataFrame({"source": [f"s{i}" for i in range(50)], "target": [f"t{i}" for i in range(50)]})
    assert training_sample(table, 100, 1)[0] is table
    small, total = training_sample(table, 10, 1)
    assert len(small) == 10 and total == 50 and small.index.is_monotonic_increasing
    assert small.equals(training_sample(table, 10, 1)[0]) and not small.equals(training_sample(table, 10, 2)[0])


class _Ctx:
    class log:  # noqa: N801 - a stand-in for the run's logger
        lines: list = []

        @classmethod
        def warning(cls, *args):
            cls.lines.append(args[0] % args[1:])

        info = warning

    class tracker:  # noqa: N801
        metrics: dict = {}

        @classmethod
        def log_metrics(cls, values, step=None):
            cls.metrics.update(values)


def _encoder(max_length=16):
    from seqpipe.text.encoder import TextEncoder

    vocabulary = ["[PAD]", "[UNK]", "[START]", "[END]", "en", "es"] + [str(i) for i in range(10)]
    return TextEncoder("whitespace", vocabulary, max_length, False)


@pytest.mark.parametrize("batching", ["bucketing", "tokens", "plain"])
def test_stream_batches_hold_every_row_tokenized_by_the_models_encoder(tmp_path, batching):
    split = StreamedSplit("parallel", parallel(tmp_path, shards=3, rows=40), ROLES, seed=2, shuffle_buffer=16)
    if batching == "bucketing":  # the length buckets then come from the vocabulary sample's rows
        split.sample(50)
        assert len(split.length_rows) == 50 and split.shard_rows == [40, 40, 40]
        split.shard_rows = None  # counting again (as several workers do) keeps the sample's length rows
        assert split.count_rows() == [40, 40, 40] and len(split.length_rows) == 50
    encoder = _encoder()

    def tokenize(rows):
        return encoder.tokenize(rows["source"]), encoder.tokenize(rows["target"])

    data = stream_epochs(split, tokenize, lambda x, y: tf.shape(y)[0], 8, bucketing=batching == "bucketing",
                         batch_tokens=24 if batching == "tokens" else None, longest=16, ctx=_Ctx)
    assert data.steps is None and data.callbacks == [] and data.bad_row == split.bad_row
    batches = list(data.epoch(0).as_numpy_iterator())
    assert [x.shape for x, _ in batches] == [x.shape for x, _ in data.epoch(0).as_numpy_iterator()]
    rows = sorted(tuple(r) for x, _ in batches for r in x.tolist())
    texts = [f"en {s} {i}" for s in range(3) for i in range(40)]
    expected = sorted(tuple(r) for r in encoder(tf.constant(texts)).numpy().tolist())  # the serving path's ids
    assert rows == expected
    if batching == "tokens":
        assert all(x.shape[0] * x.shape[1] <= 24 for x, _ in batches)
    else:
        assert max(x.shape[0] for x, _ in batches) == 8


def test_skipped_rows_are_logged_per_file_after_the_first_epoch(tmp_path):
    (tmp_path / "bad.tsv").write_text(BAD, encoding="utf-8")
    split = StreamedSplit("table", ({"table": tmp_path / "bad.tsv"},), ROLES, seed=1, on_error="skip")
    encoder = _encoder()
    data = stream_epochs(split, lambda r: (encoder.tokenize(r["source"]), encoder.tokenize(r["target"])),
                         lambda x, y: tf.shape(y)[0], 2, bucketing=False, batch_tokens=None, longest=16, ctx=_Ctx)
    counter = data.callbacks[0]
    assert isinstance(counter, SkipCounter)
    counter.set_model(type("M", (), {"stop_training": False})())
    counter.on_epoch_begin(0)
    assert sum(x.shape[0] for x, _ in data.epoch(0).as_numpy_iterator()) == 3
    counter.on_epoch_end(0)
    assert _Ctx.tracker.metrics["data_skipped_rows"] == 3.0
    assert _Ctx.tracker.metrics["data_skipped_rows.bad.tsv"] == 3.0
    assert any(f"skip dropped 3 rows: {tmp_path / 'bad.tsv'} 3" in line for line in _Ctx.log.lines)
    assert np.array_equal(counter.counts.numpy()[0, :4], [0, 1, 1, 1])


def _data_config(**data):
    from seqpipe.data.config import DataConfig

    return DataConfig.model_validate(data)


def test_auto_streams_large_training_files_of_a_task_that_streams(tmp_path, monkeypatch):
    from seqpipe.data import should_stream

    parallel(tmp_path, shards=2, rows=30)
    source = {"train": {"source": "train-*.en.gz", "target": "train-*.es.gz"}, "valid": "v.tsv", "test": "t.tsv"}
    auto = _data_config(source=source)
    assert auto.streaming == "auto"
    stream, why = should_stream(auto, True, tmp_path)
    assert not stream and why.startswith("data.streaming: auto: 0.0 MiB of training files, at most 256 MiB")
    monkeypatch.setattr("seqpipe.data.config.STREAM_ABOVE_MB", 0)
    assert should_stream(auto, True, tmp_path) == (True, "data.streaming: auto: 0 MiB of training files, more "
                                                         "than 0 MiB")
    stream, why = should_stream(auto, False, tmp_path)
    assert not stream and "but the task reads its training split whole; reading them into memory" in why
    carved = _data_config(source={"train": source["train"]})
    stream, why = should_stream(carved, True, tmp_path)
    assert not stream and "data.split would carve valid and test from the training rows" in why
    assert should_stream(_data_config(source=source, streaming=True), False, tmp_path) == (True, "data.streaming: true")
    assert should_stream(_data_config(source=source, streaming=False), True, tmp_path)[0] is False


def test_the_data_section_reaches_the_stream(tmp_path):
    from seqpipe.data import load_data

    parallel(tmp_path, shards=2, rows=30, gz=False)
    for name in ("valid", "test"):
        (tmp_path / f"{name}.tsv").write_text("source\ttarget\na b\tb a\n", encoding="utf-8")
    cfg = _data_config(source={"train": {"source": "train-*.en", "target": "train-*.es"}, "valid": "valid.tsv",
                               "test": "test.tsv"}, streaming=True, shuffle_buffer=3, on_error="skip", max_tokens=9)
    splits, report = load_data(cfg, roles=ROLES, seed=11, base_dir=tmp_path, stream=True)
    train = splits["train"]
    assert isinstance(train, StreamedSplit) and not report
    assert (train.kind, train.seed, train.shuffle_buffer, train.on_error, train.max_tokens) == (
        "parallel", 11, 3, "skip", 9)
    assert [s["source"].name for s in train.shards] == ["train-0.en", "train-1.en"]
    assert len(splits["valid"]) == len(splits["test"]) == 1
    # the buffer size changes the order (a buffer of 3 mixes less than one of 1000)
    wide = StreamedSplit("parallel", train.shards, ROLES, seed=11, shuffle_buffer=1000)
    assert read(train.rows(0, tf.Variable(tf.zeros([2, len(PROBLEMS)], tf.int64)))) != read(wide.rows(0))
    (tmp_path / "train.csv").write_text("source,target\na,b\n", encoding="utf-8")
    csv = _data_config(source={"train": "train.csv", "valid": "valid.tsv", "test": "test.tsv"}, streaming=True)
    with pytest.raises(DataError, match=r"train\.csv: a streamed training split reads TSV shards or parallel text "
                                        r"files; got csv"):
        load_data(csv, roles=ROLES, seed=1, base_dir=tmp_path, stream=True)


@pytest.mark.parametrize("value", ["always", 1, "yes"])
def test_streaming_is_true_false_or_auto(value):
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as raised:
        _data_config(source={"train": "t.tsv"}, streaming=value)
    (error,) = raised.value.errors()
    assert error["loc"] == ("streaming",) and error["msg"] == "must be true, false or auto"
