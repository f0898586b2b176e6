"""The files one split of ``data.source`` names: one file, shards (a list or a glob), ``.gz`` files, and
line-aligned parallel files (one per role).

A split's value (``data.source.path``, ``train``, ``valid`` or ``test``) is resolved here into a
:class:`FileSet`, relative to the pipeline file's folder:

- ``train.tsv`` or ``[train-0.tsv, train-1.tsv]`` or ``corpus/train-*.tsv``: a *table* read with
  ``data.source.format``, its shards concatenated in order (a glob's matches sorted by name; a glob
  that matches nothing is an error naming the pattern and the folder);
- ``{source: corpus/train.en, target: corpus/train.es}``: *parallel* files, one per role, line ``n``
  of each holding that role's value of example ``n``; each value may itself be a list or a glob of
  shards, paired in sorted order (the roles must have as many shards each).

Any file may be gzipped: ``train.tsv.gz`` is read as ``train.tsv`` (:func:`open_binary`, :func:`format_of`).

Importing this module stays light (no pandas, no TensorFlow): the streamed reader imports it too.
"""

from __future__ import annotations

import glob
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Union

from seqpipe.errors import DataError

TABLE, PARALLEL = "table", "parallel"
FORMATS = ("csv", "tsv", "jsonl", "text", "conll", "wordtag")
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".txt": "text", ".conll": "conll", ".conllu": "conll", ".bio": "conll",
            ".iob": "conll"}
GLOB_CHARS = frozenset("*?[")
CHUNK = 1 << 20  # bytes read at a time when counting lines

Spec = Union[str, list, dict]  # str | list[str] | dict[str, str | list[str]]


@dataclass(frozen=True)
class FileSet:
    """What one split's source resolves to.

    ``kind`` is ``"table"`` (files of one format, read one after the other) or ``"parallel"`` (one text
    file per role, line-aligned); ``shards`` holds one mapping per shard: ``{"table": path}`` for a
    table, ``{role: path, ...}`` for parallel files (the roles in the order written). ``where`` is the
    key path the files were given at (``data.source.train``), for messages.
    """

    kind: str
    shards: tuple[dict[str, Path], ...]
    where: str = ""

    def files(self) -> list[Path]:
        """Every file, in order (shard by shard; within a shard, role by role)."""
        return [path for shard in self.shards for path in shard.values()]

    def roles(self) -> list[str]:
        """The roles of parallel files (``[]`` for a table)."""
        return list(self.shards[0]) if self.kind == PARALLEL and self.shards else []


def resolve_files(spec: Spec, base_dir: Path, where: str) -> FileSet:
    """The :class:`FileSet` of ``spec`` (a path or glob, a list of them, or ``{role: path, list or glob}``),
    relative paths taken from ``base_dir``. Raises :class:`DataError` for a glob that matches nothing,
    an empty list or mapping, and parallel roles with different numbers of shards."""
    base_dir = Path(base_dir)
    if isinstance(spec, dict):
        if not spec:
            raise DataError(f"{where}: no files; give one file (or list or glob of shards) per role")
        files = {str(role): expand(value, base_dir, f"{where}.{role}") for role, value in spec.items()}
        counts = {role: len(paths) for role, paths in files.items()}
        if len(set(counts.values())) > 1:
            (role, count), *rest = counts.items()
            other, n = next((r, c) for r, c in rest if c != count)
            raise DataError(f"{where}: {_shards(count)} for {role} ({_shown(spec[role])}) but {_shards(n)} for "
                            f"{other} ({_shown(spec[other])}); parallel files pair shard by shard, in sorted order, "
                            "so give each role as many")
        count = next(iter(counts.values()))
        shards = tuple({role: paths[i] for role, paths in files.items()} for i in range(count))
        return FileSet(PARALLEL, shards, where)
    return FileSet(TABLE, tuple({TABLE: path} for path in expand(spec, base_dir, where)), where)


def expand(value: str | list, base_dir: Path, where: str) -> list[Path]:
    """The files of one path, glob or list of them (globs sorted by name), in order."""
    items = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    if not items:
        raise DataError(f"{where}: an empty list; give at least one file")
    out: list[Path] = []
    for item in items:
        text = os.path.expanduser(str(item))
        if not GLOB_CHARS & set(text):
            out.append(Path(base_dir) / text)
            continue
        pattern = text if os.path.isabs(text) else os.path.join(glob.escape(str(base_dir)), text)
        found = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not found:
            folder = _folder(text, Path(base_dir))
            state = "" if folder.is_dir() else ", a folder that does not exist"
            raise DataError(f"{where}: no file matches {item} (looked in {folder}{state})")
        out += found
    return out


def _folder(pattern: str, base_dir: Path) -> Path:
    """The folder a glob looks in: its parts before the first one with a wildcard."""
    parts = Path(pattern).parts
    fixed = parts[: next(i for i, part in enumerate(parts) if GLOB_CHARS & set(part))]
    return base_dir.joinpath(*fixed)


def _shards(count: int) -> str:
    return f"{count} shard" if count == 1 else f"{count} shards"


def _shown(value: str | list) -> str:
    return value if isinstance(value, str) else ", ".join(map(str, value))


def is_gzip(path: Path) -> bool:
    return Path(path).suffix.lower() == ".gz"


def open_binary(path: Path) -> BinaryIO:
    """``path`` opened for reading bytes: through gzip when its name ends in ``.gz``."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def read_bytes(path: Path) -> bytes:
    """The bytes of ``path`` (uncompressed for ``.gz``); a damaged gzip file is a :class:`DataError`."""
    try:
        with open_binary(path) as handle:
            return handle.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a valid gzip file ({exc or type(exc).__name__}); expected a file "
                        "written by gzip (or a name without .gz)") from None


def format_of(path: Path) -> str | None:
    """The format its suffix names (``train.tsv.gz`` -> ``tsv``), or None."""
    path = Path(path)
    if is_gzip(path):
        path = path.with_suffix("")
    return SUFFIXES.get(path.suffix.lower())


def table_format(path: Path, format: str = "auto") -> str:
    """``format``, or with ``auto`` the format of ``path``'s suffix; a DataError when it tells none."""
    if format != "auto":
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; expected auto or one of {FORMATS}")
        return format
    fmt = format_of(path)
    if fmt is None:
        inner = Path(path).with_suffix("") if is_gzip(path) else Path(path)
        suffix = f"the suffix '{inner.suffix}'" if inner.suffix else "a name without a suffix"
        raise DataError(f"{path}: cannot tell the format from {suffix}; set data.source.format "
                        f"to one of {', '.join(FORMATS)}")
    return fmt


def count_lines(path: Path) -> int:
    """Lines of ``path`` as the readers count them (LF, CRLF or CR ends; a last line without an end counts),
    read a chunk at a time."""
    count, last = 0, b""
    try:
        with open_binary(path) as handle:
            while chunk := handle.read(CHUNK):
                count += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
                if last == b"\r" and chunk[:1] == b"\n":
                    count -= 1  # a CRLF cut between two chunks
                last = chunk[-1:]
    except (gzip.BadGzipFile, EOFError, zlib.error):
        read_bytes(path)  # raises the one-line message
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: not a file") from None
    return count + (1 if last not in (b"", b"\n", b"\r") else 0)


def check_parallel(fileset: FileSet) -> list[int]:
    """The line count of each shard of parallel files; a :class:`DataError` naming both files and both
    counts when the files of a shard differ in length."""
    counts = []
    for shard in fileset.shards:
        lines = {role: count_lines(path) for role, path in shard.items()}
        (role, n), *rest = lines.items()
        for other, m in rest:
            if m != n:
                at = f" ({fileset.where})" if fileset.where else ""
                raise DataError(f"{shard[role]} has {n:,} lines but {shard[other]} has {m:,}; parallel files "
                                f"hold one example per line, line for line{at}")
        counts.append(n)
    return counts
