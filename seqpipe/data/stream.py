"""Streamed training input: the training files read as a tf.data pipeline, never held whole in memory.

A :class:`StreamedSplit` stands for the training split of a run with ``data.streaming`` on. It reads TSV
shards or line-aligned parallel text files (plain or gzipped, see :mod:`seqpipe.data.files`) with the same
row rules as the in-memory readers: a blank line, a wrong number of fields, an empty value, bytes that are
not UTF-8 or more than ``data.max_tokens`` tokens make a bad row, which ``data.on_error: fail`` stops on
(naming the file and line) and ``skip`` drops and counts per file.

Order (:meth:`StreamedSplit.rows`): epoch ``e`` reads the shards in an order seeded by ``(seed, e)``,
interleaves them deterministically and shuffles through a buffer seeded by ``(seed, e)`` too, so the
order is a function of the seed, the epoch and the shard list only: a run resumed mid-epoch skips the
batches it has seen and continues exactly.

:meth:`StreamedSplit.sample` draws the seeded, bounded sample the vocabularies are built from (reservoir
sampling over every training row: its memory does not grow with the corpus, its time does).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from seqpipe.data.checks import SKIP_HINT, DataReport, RowProblem
from seqpipe.data.files import count_lines, open_binary
from seqpipe.errors import DataError

# what a row's check code means; 0 is a good row
PROBLEMS = ("", "blank line; expected {expected}", "wrong number of fields; expected {fields}",
            "empty value in {column}; expected a value", "not UTF-8; expected UTF-8 text",
            "more than data.max_tokens ({max_tokens}) tokens in {first}")
PARALLEL = len(PROBLEMS)  # the code of a line one parallel file has and another lacks (always fatal)
MARKER = "seqpipe-bad-row"
SHARD_CYCLE = 4  # shards read at once, interleaved
BLOCK = 16  # lines taken from a shard in turn
LENGTH_ROWS = 4096  # rows of the vocabulary sample kept for the length buckets' boundaries


@dataclass
class StreamedSplit:
    """The training split, read from ``shards`` as a stream.

    ``kind`` is ``"table"`` (TSV shards; ``columns`` maps a role to a column name or 0-based index,
    ``header`` says whether each shard starts with a header row) or ``"parallel"`` (one text file per
    role in each shard, ``{role: path}``).
    """

    kind: str
    shards: tuple[dict[str, Path], ...]
    roles: list[str]
    seed: int
    columns: dict[str, str | int] | None = None
    header: bool = True
    on_error: str = "fail"
    max_tokens: int | None = None
    shuffle_buffer: int = 50_000
    _fields: list[int] = field(default_factory=list, repr=False)  # table: the columns read, by role
    _width: int = 0  # table: fields per row
    shard_rows: list[int] | None = field(default=None, repr=False)  # good rows per shard, once read
    length_rows: list[list[str]] | None = field(default=None, repr=False)  # rows whose lengths set the buckets

    def __post_init__(self):
        self.shards = tuple({k: Path(v) for k, v in shard.items()} for shard in self.shards)
        if self.kind == "table":
            self._fields, self._width = self._table_layout()

    # -- what it is ------------------------------------------------------------------------------------------------
    def files(self) -> list[Path]:
        return [path for shard in self.shards for path in (shard.values())]

    def __len__(self) -> int:  # unknown without reading it all: a streamed split is never counted up front
        raise TypeError("a streamed training split has no length before it is read")

    def describe(self) -> str:
        files = self.files()
        return f"{len(self.shards)} shard(s), {len(files)} file(s) from {files[0].parent}"

    def digest(self) -> str:
        """Names, sizes and modification times of the files (the stage cache's key of this split)."""
        digest = hashlib.sha256()
        for path in self.files():
            stat = path.stat()
            digest.update(f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()

    def _table_layout(self) -> tuple[list[int], int]:
        """The field index of each role and the number of fields, from the first shard's header (every shard
        must have the same one) or from ``columns`` given as indices."""
        mapping = self.columns or {}
        headers = []
        if self.header:
            for shard in self.shards:
                with open_binary(shard["table"]) as handle:
                    first = handle.readline().decode("utf-8", "replace").rstrip("\r\n")
                headers.append(first.split("\t"))
                if headers[-1] != headers[0]:
                    raise DataError(f"{shard['table']} line 1: header {first!r}; expected the header of "
                                    f"{self.shards[0]['table']} ({chr(9).join(headers[0])!r}): shards of one split "
                                    "share their columns")
            names = headers[0]
        fields = []
        for role in self.roles:
            column = mapping.get(role, role)
            if isinstance(column, int):
                fields.append(column)
            elif self.header and column in names:
                fields.append(names.index(column))
            else:
                where = f"{self.shards[0]['table']} line 1"
                raise DataError(f"{where}: no column '{column}' for role {role}; "
                                + (f"the header has {', '.join(names)}" if self.header else
                                   "without a header row, map roles to column numbers in data.source.columns"))
        width = len(names) if self.header else max(fields) + 1
        return fields, width

    # -- reading rows in Python: the vocabulary sample ----------------------------------------------------------
    def _python_rows(self):
        """``(shard index, file, line, values, code)`` for every row, read in Python with the stream's own rules."""
        for index, shard in enumerate(self.shards):
            if self.kind == "table":
                path = shard["table"]
                with open_binary(path) as handle:
                    for number, raw in enumerate(handle, start=1):
                        if number == 1 and self.header:
                            continue
                        yield index, path, number, *self._check_table(raw)
            else:
                paths = [shard[role] for role in self.roles]
                handles = [open_binary(p) for p in paths]
                try:
                    number = 0
                    while True:
                        raws = [h.readline() for h in handles]
                        number += 1
                        if not any(raws):
                            break
                        if not all(raws):
                            self._length_mismatch(paths, [bool(r) for r in raws], number)
                        yield index, paths[0], number, *self._check_parallel(raws)
                finally:
                    for h in handles:
                        h.close()

    def _check_table(self, raw: bytes) -> tuple[list[str], int]:
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            return [], 4
        if not line.strip():
            return [], 1
        parts = line.split("\t")
        if len(parts) != self._width:
            return [], 2
        return self._values([parts[i] for i in self._fields])

    def _check_parallel(self, raws: list[bytes]) -> tuple[list[str], int]:
        try:
            values = [raw.decode("utf-8").rstrip("\r\n") for raw in raws]
        except UnicodeDecodeError:
            return [], 4
        if not any(v.strip() for v in values):
            return [], 1
        return self._values(values)

    def _values(self, values: list[str]) -> tuple[list[str], int]:
        if any(not v.strip() for v in values):
            return values, 3
        if self.max_tokens is not None and len(values[0].split()) > self.max_tokens:
            return values, 5
        return values, 0

    def _length_mismatch(self, paths: list[Path], present: list[bool], line: int):
        short = paths[present.index(False)]
        long = paths[present.index(True)]
        raise DataError(f"parallel files differ in length: {long} has {count_lines(long)} lines, {short} has "
                        f"{count_lines(short)}; expected one line per example in each")

    def problem(self, file: Path, line: int, code: int) -> RowProblem:
        first = self.roles[0]
        column = "the values" if self.kind == "parallel" else "a column"
        kind = PROBLEMS[code].format(expected="a row", fields=f"{self._width}", column=column,
                                     max_tokens=self.max_tokens, first=first)
        unit = "row" if self.kind == "table" else "line"
        return RowProblem(str(file), unit, line, kind)

    def sample(self, n: int) -> tuple[list[list[str]], int]:
        """A seeded uniform sample of at most ``n`` good rows (reservoir sampling, algorithm R) and the number of
        good rows read. With ``on_error: fail`` the first bad row stops here, before anything trains."""
        rng = random.Random(self.seed)
        kept: list[list[str]] = []
        seen = 0
        counts = [0] * len(self.shards)
        for shard, file, line, values, code in self._python_rows():
            if code:
                if self.on_error == "fail":
                    raise DataError(f"{self.problem(file, line, code)} ({SKIP_HINT})")
                continue
            counts[shard] += 1
            if seen < n:
                kept.append(values)
            else:
                slot = rng.randrange(seen + 1)
                if slot < n:
                    kept[slot] = values
            seen += 1
        if not seen:
            raise DataError(f"{self.describe()}: no usable training rows; expected at least one")
        self.shard_rows = counts
        self.length_rows = [list(row) for row in kept[:LENGTH_ROWS]]  # a uniform sample too (the reservoir is)
        return kept, seen

    def count_rows(self) -> list[int]:
        """Good rows per shard (known after :meth:`sample`, else counted with one pass now)."""
        if self.shard_rows is None:
            kept = self.length_rows
            self.sample(1)
            self.length_rows = kept  # a count is not a sample: keep the length rows of the vocabulary's
        return self.shard_rows

    # -- the tf.data stream -------------------------------------------------------------------------------------------
    def _shard_lines(self, index, files, compressions):
        """Lines of shard ``index`` (a tensor): ``(values [roles], file index, line number, check code)``."""
        if self.kind == "table":
            lines = tf.data.TextLineDataset(files[index][0], compression_type=compressions[index][0])
            numbered = lines.enumerate(start=1)
            if self.header:
                numbered = numbered.skip(1)
            width, fields = self._width, tf.constant(self._fields, tf.int64)

            def check(number, line):
                line = tf.strings.regex_replace(line, "\r$", "")
                parts = tf.strings.split(line, "\t")
                ok_width = tf.size(parts, out_type=tf.int64) == width
                values = tf.cond(ok_width, lambda: tf.gather(parts, fields),
                                 lambda: tf.fill([len(self._fields)], tf.constant("")))
                code = self._graph_code(line, values, ok_width)
                return values, index, number, code
            return numbered.map(check)
        ends = []
        for r in range(len(self.roles)):
            lines = tf.data.TextLineDataset(files[index][r], compression_type=compressions[index][r])
            ends.append(lines.map(lambda t: (t, False)).concatenate(
                tf.data.Dataset.from_tensors((tf.constant(""), True))))

        def check(number, *sides):
            values = tf.stack([tf.strings.regex_replace(v, "\r$", "") for v, _ in sides])
            done = tf.stack([d for _, d in sides])
            mismatch = tf.reduce_any(done) & ~tf.reduce_all(done)
            code = tf.where(mismatch, tf.constant(PARALLEL, tf.int64),
                            self._graph_code(tf.strings.reduce_join(values), values, True))
            code = tf.where(tf.reduce_all(done), tf.constant(-1, tf.int64), code)  # both ended together: the end
            side = tf.where(mismatch, tf.argmax(tf.cast(done, tf.int64)), tf.constant(0, tf.int64))
            return values, index * self._per_shard + side, number, code
        numbered = tf.data.Dataset.zip(tf.data.Dataset.range(1, 1 << 62), *ends).map(check)
        return numbered.filter(lambda values, file, number, code: tf.not_equal(code, -1))

    def _graph_code(self, line, values, ok_width):
        valid = tf.equal(tf.strings.unicode_transcode(line, "UTF-8", "UTF-8", errors="replace",
                                                      replace_control_characters=False), line)
        blank = tf.equal(tf.strings.length(tf.strings.strip(line)), 0)
        empty = tf.reduce_any(tf.equal(tf.strings.length(tf.strings.strip(values)), 0))
        code = tf.constant(0, tf.int64)
        if self.max_tokens is not None:
            tokens = tf.size(tf.strings.split(values[0]), out_type=tf.int64)
            code = tf.where(tokens > self.max_tokens, tf.constant(5, tf.int64), code)
        code = tf.where(empty, tf.constant(3, tf.int64), code)
        code = tf.where(tf.logical_not(ok_width), tf.constant(2, tf.int64), code)
        code = tf.where(blank, tf.constant(1, tf.int64), code)
        return tf.where(tf.logical_not(valid), tf.constant(4, tf.int64), code)

    def rows(self, epoch, counter: tf.Variable | None = None) -> tf.data.Dataset:
        """Epoch ``epoch``'s good rows, ``{role: string}``, in an order seeded by ``(seed, epoch)``.

        Bad rows stop the stream with an error :func:`bad_row` turns into a one-line DataError (``fail``), or are
        dropped and counted in ``counter[file index, code]`` (``skip``; see :class:`SkipCounter`).
        """
        roles = self.roles if self.kind == "parallel" else ["table"]
        files = tf.constant([[str(s[r]) for r in roles] for s in self.shards])
        compressions = tf.constant([["GZIP" if str(s[r]).endswith(".gz") else "" for r in roles]
                                    for s in self.shards])
        key = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(epoch, tf.int64)])
        order = tf.argsort(tf.random.stateless_uniform([len(self.shards)], seed=key))
        cycle = min(SHARD_CYCLE, len(self.shards))
        lines = tf.data.Dataset.from_tensor_slices(tf.cast(order, tf.int64)).interleave(
            lambda i: self._shard_lines(i, files, compressions), cycle_length=cycle, block_length=BLOCK,
            num_parallel_calls=cycle, deterministic=True)
        lines = self._guard(lines, counter)
        buffer_seed = tf.random.stateless_uniform([], seed=key + 1, maxval=1 << 62, dtype=tf.int64)
        lines = lines.shuffle(self.shuffle_buffer, seed=buffer_seed, reshuffle_each_iteration=False)
        roles = self.roles
        return lines.map(lambda values, file, number, code: {r: values[i] for i, r in enumerate(roles)})

    def _guard(self, lines: tf.data.Dataset, counter) -> tf.data.Dataset:
        fatal = self.on_error == "fail"

        def stop(values, file, number, code):
            ok = tf.equal(code, 0) if fatal else tf.not_equal(code, PARALLEL)
            message = tf.strings.format(MARKER + " {} {} {} ", (file, number, code))
            with tf.control_dependencies([tf.debugging.Assert(ok, [message])]):
                return tf.identity(values), file, number, code

        lines = lines.map(stop)
        if fatal:
            return lines

        def keep(values, file, number, code):
            good = tf.equal(code, 0)
            if counter is not None:
                counter.scatter_nd_add(tf.stack([file // self._per_shard, code])[None, :],
                                       tf.where(good, tf.constant([0], tf.int64), tf.constant([1], tf.int64)))
            return good
        return lines.filter(keep)

    @property
    def _per_shard(self) -> int:
        return len(self.roles) if self.kind == "parallel" else 1

    def file_of(self, file_index: int) -> Path:
        roles = self.roles if self.kind == "parallel" else ["table"]
        shard, role = divmod(int(file_index), len(roles))
        return self.shards[shard][roles[role]]

    def bad_row(self, exc: BaseException) -> DataError | None:
        """The one-line DataError for a stream stopped by a bad row (None for any other error)."""
        found = re.search(MARKER + r" (\d+) (\d+) (\d+) ", str(exc))
        if found is None:
            return None
        file_index, line, code = (int(g) for g in found.groups())
        if code == PARALLEL:
            paths = [self.shards[file_index // self._per_shard][r] for r in self.roles]
            present = [True] * len(paths)
            present[file_index % self._per_shard] = False
            try:
                self._length_mismatch(paths, present, line)
            except DataError as error:
                return error
        problem = self.problem(self.file_of(file_index), line, code)
        return DataError(f"{problem} ({SKIP_HINT}; the training so far is in the run's checkpoints/)")


class SkipCounter(keras.callbacks.Callback):
    """Counts the rows ``data.on_error: skip`` drops from a stream, per file and problem; logs them (and the MLflow
    metric ``data_skipped_rows``) after the first epoch that read the whole split."""

    def __init__(self, split: StreamedSplit, ctx):
        super().__init__()
        self.split, self.ctx = split, ctx
        self.counts = tf.Variable(tf.zeros([len(split.shards), len(PROBLEMS)], tf.int64), trainable=False)
        self.reported = False

    def on_epoch_begin(self, epoch, logs=None):
        self.counts.assign(tf.zeros_like(self.counts))

    def on_epoch_end(self, epoch, logs=None):
        if self.reported or self.model.stop_training:
            return
        self.reported = True
        report = self.report()
        for line in report.lines():
            (self.ctx.log.warning if report else self.ctx.log.info)("training stream: %s", line)
        self.ctx.tracker.log_metrics({**report.metrics(), **{
            f"data_skipped_rows.{Path(file).name}": float(n) for file, n in report.skipped.items()}})

    def report(self) -> DataReport:
        report = DataReport()
        counts = self.counts.numpy()
        for shard, row in enumerate(counts):
            file = (self.split.shards[shard].get("table") or self.split.shards[shard][self.split.roles[0]])
            for code, n in enumerate(row.tolist()):
                if n:
                    problem = self.split.problem(file, 0, code)
                    report.skipped[str(file)] = report.skipped.get(str(file), 0) + n
                    key = f"{file}: {problem.kind}"
                    report.problems[key] = report.problems.get(key, 0) + n
        return report
