"""Pretrained word vectors in the text format of word2vec, GloVe and fastText, read for one vocabulary.

A vectors file holds one word per line followed by its values, separated by spaces::

    3 4                      <- optional header (word2vec, fastText .vec): number of words, dimension
    the 0.418 0.24968 -0.41242 0.1217
    , 0.013441 0.23682 -0.16899 0.40951

The file may be gzip-compressed (recognised by its first bytes, whatever its name). It is streamed line by
line and only the rows of the vocabulary's words are kept (at most two per word: the exact match and the
first lowercase match), so a file of several gigabytes needs the memory of the vocabulary only.

- A vocabulary word takes the row of the first line whose word is the same string; failing that, the row of
  the first line whose word lowercased is that word (``The`` serves ``the`` when ``the`` has no line).
  Later lines for the same word are ignored (the first wins).
- Every line must have the dimension's number of values (the header's, else the first line's): a line with
  another number is a :class:`VectorsError` naming ``file:line``, what was expected and what was received.
  Values are parsed for the kept rows only (parsing every number of a multi-gigabyte file would take
  minutes); a kept row whose values are not numbers is an error the same way.
- Words are UTF-8. A line whose word is not valid UTF-8 cannot match a vocabulary word (those are text):
  it is skipped and counted (:attr:`Vectors.undecodable`, with the first such line), never fatal.
- An empty file, or one with a header and no vectors, is an error; so is a line of more than a mebibyte (a
  binary word2vec file or a device, read no further). A line of the wrong length that looks binary says so.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from seqpipe.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
MAX_LINE = 1 << 20  # bytes: a line of 1,000 values takes about 10 kB; a longer one is not a vectors text file


class VectorsError(DataError):
    """A vectors file that cannot be read: one line naming the file (and line) and the reason."""


def open_vectors(path: str | Path) -> BinaryIO:
    """``path`` opened for reading bytes, through gzip when it starts with gzip's magic bytes."""
    path = Path(path)
    try:
        with open(path, "rb") as probe:
            compressed = probe.read(2) == GZIP_MAGIC
    except IsADirectoryError:
        raise VectorsError(f"{path}: is a folder; expected a word-vectors file") from None
    except FileNotFoundError:
        raise VectorsError(f"{path}: no such file") from None
    except OSError as exc:
        raise VectorsError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, the line without its end) for every non-blank line; a damaged gzip file, or a line longer
    than :data:`MAX_LINE` bytes (a binary file, a device), is a VectorsError."""
    with open_vectors(path) as handle:
        number = 0
        try:
            while raw := handle.readline(MAX_LINE + 1):
                number += 1
                if len(raw) > MAX_LINE:
                    raise VectorsError(f"{path}:{number}: expected a line of a word-vectors text file; received "
                                       f"more than {MAX_LINE:,} bytes without a line end (a binary file?)")
                line = raw.rstrip(b"\r\n").rstrip(b" \t")
                if line.strip():
                    yield number, line
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise VectorsError(f"{path}:{number + 1}: not a valid gzip file ({exc or type(exc).__name__}); "
                               "expected a file written by gzip") from None


def _fields(line: bytes) -> list[bytes]:
    return line.split()


def _header(fields: list[bytes]) -> tuple[int, int] | None:
    """(words, dimension) when ``fields`` is a word2vec/fastText header line: two positive integers."""
    if len(fields) == 2 and all(f.isdigit() for f in fields) and int(fields[1]) > 0:
        return int(fields[0]), int(fields[1])
    return None


def dimension(path: str | Path) -> int:
    """The vectors' dimension, from the first line (or two) of ``path`` only: the header's, else the number of
    values of the first line. Raises :class:`VectorsError` (missing, empty, unreadable file)."""
    path = Path(path)
    for number, line in _lines(path):
        fields = _fields(line)
        header = _header(fields)
        if header is not None:
            return header[1]
        if len(fields) < 2:
            raise VectorsError(f"{path}:{number}: expected a word followed by its values (or a header 'words "
                               f"dimension'); received {len(fields)} field")
        return len(fields) - 1
    raise VectorsError(f"{path}: the file is empty; expected one word and its values per line")


@dataclass
class Vectors:
    """What :func:`read_vectors` found for a vocabulary."""

    dim: int
    rows: dict[str, list[float]] = field(default_factory=dict)  # vocabulary word -> its values
    lowercase_matches: int = 0  # words found by their lowercase match only
    lines: int = 0  # vector lines read (the header not counted)
    undecodable: int = 0  # lines skipped because their word is not UTF-8
    first_undecodable: int | None = None  # the line number of the first of them


def read_vectors(path: str | Path, vocabulary: Iterable[str]) -> Vectors:
    """The rows of ``vocabulary``'s words in the vectors file ``path`` (see the module's notes for the rules).

    Streams the file; keeps at most two rows per vocabulary word while reading and one in the result.
    Raises :class:`VectorsError` with ``file:line``, what was expected and what was received.
    """
    path = Path(path)
    wanted = set(vocabulary)
    exact: dict[str, list[float]] = {}
    folded: dict[str, list[float]] = {}
    found = Vectors(dim=0)
    dim = None
    for number, line in _lines(path):
        fields = _fields(line)
        if dim is None:
            header = _header(fields)
            if header is not None:
                dim = header[1]
                continue
            dim = len(fields) - 1
            if dim < 1:
                raise VectorsError(f"{path}:{number}: expected a word followed by its values (or a header "
                                   f"'words dimension'); received {len(fields)} field")
        if len(fields) - 1 != dim:
            raise VectorsError(f"{path}:{number}: expected a word and {dim} values; received {len(fields) - 1} "
                               f"value{'s' if len(fields) != 2 else ''}"
                               + (" (the dimension is the header's)" if found.lines == 0 else "")
                               + ("; a binary word2vec file? seqpipe reads the text format" if _binary(line) else ""))
        found.lines += 1
        try:
            word = fields[0].decode("utf-8")
        except UnicodeDecodeError:
            found.undecodable += 1
            found.first_undecodable = found.first_undecodable or number
            continue
        if word in wanted:
            if word not in exact:
                exact[word] = _values(path, number, fields, dim)
            continue
        lower = word.lower()
        if lower in wanted and lower not in exact and lower not in folded:
            folded[lower] = _values(path, number, fields, dim)
    if dim is None:
        raise VectorsError(f"{path}: the file is empty; expected one word and its values per line")
    if found.lines == 0:
        raise VectorsError(f"{path}: no vectors after the header line; expected one word and {dim} values per line")
    found.dim = dim
    found.rows = dict(exact)
    for word, values in folded.items():
        if word not in exact:
            found.rows[word] = values
            found.lowercase_matches += 1
    return found


def _values(path: Path, number: int, fields: list[bytes], dim: int) -> list[float]:
    try:
        return [float(value) for value in fields[1:]]
    except ValueError:
        bad = next(v for v in fields[1:] if not _is_number(v))
        raise VectorsError(f"{path}:{number}: expected {dim} numbers after the word; received "
                           f"{bad.decode('utf-8', 'replace')[:40]!r}") from None


def _binary(line: bytes) -> bool:
    """Whether ``line`` looks like packed floats rather than text (control bytes, or not UTF-8)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return any(ord(c) < 32 and c not in "\t" for c in text)


def _is_number(value: bytes) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def coverage(vocabulary: list[str], rows: dict, counts: list[int] | None = None,
             reserved: Iterable[str] = ()) -> tuple[float, float | None]:
    """(the share of vocabulary words with a row, the share of tokens whose word has a row).

    ``reserved`` words (padding, unknown) do not count as vocabulary words; ``counts[i]`` is the number of
    training tokens with id ``i`` (``[UNK]``'s tokens count as not found). None when there are no counts.
    """
    reserved = set(reserved)
    words = [w for w in vocabulary if w not in reserved]
    vocab_share = sum(w in rows for w in words) / len(words) if words else 0.0
    if counts is None:
        return vocab_share, None
    total = sum(counts)
    hits = sum(n for w, n in zip(vocabulary, counts) if w in rows and w not in reserved)
    return vocab_share, (hits / total if total else 0.0)
