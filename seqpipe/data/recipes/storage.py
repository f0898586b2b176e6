"""Reading data files out of package archives, and storing prepared tables in the cache.

Reading a damaged or unexpected archive raises one of :data:`ARCHIVE_ERRORS`: what
``tarfile``, ``zipfile``, ``gzip`` and decoding raise, and :class:`ParseError`, which the
parsers raise for content they do not expect. Recipes turn those into
:class:`~seqpipe.errors.MalformedArchiveError`; anything else (a bug) propagates.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import re
import tarfile
import zipfile
import zlib
from pathlib import Path


class ParseError(ValueError):
    """A data file, or an archive's layout, is not what a recipe expects (says where)."""


class MissingMember(ParseError):
    """No file in the archive matches ``pattern``."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        super().__init__("no such file in the archive")


ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError,
                  UnicodeDecodeError, csv.Error, ParseError)  # a damaged or unexpected archive


def reason(exc: BaseException) -> str:
    """The first line of ``exc``'s message (without a trailing colon), or its type's name."""
    text = str(exc).splitlines()[0].rstrip(":") if str(exc).strip() else ""
    return text or type(exc).__name__


def read_member(archive: Path, pattern: str) -> str:
    """Return the UTF-8 text (BOM removed) of the first file in ``archive`` matching ``pattern``.

    ``.whl`` and ``.zip`` files are read as zip archives, anything else as tar;
    :class:`MissingMember` when none matches.
    """
    return next(iter(_read(archive, pattern, first=True).values()))


def read_members(archive: Path, pattern: str) -> dict[str, str]:
    """Return the UTF-8 text (BOM removed) of every file in ``archive`` matching ``pattern``.

    Keyed by member name, in archive order; :class:`MissingMember` when none matches.
    """
    return _read(archive, pattern, first=False)


def _read(archive: Path, pattern: str, first: bool) -> dict[str, str]:
    data = {}
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not info.is_dir() and fnmatch.fnmatchcase(info.filename, pattern):
                    data[info.filename] = zf.read(info)
                    if first:
                        break
    else:
        with tarfile.open(archive) as tar:
            for member in tar:
                if member.isfile() and fnmatch.fnmatchcase(member.name, pattern):
                    data[member.name] = tar.extractfile(member).read()
                    if first:
                        break
    if not data:
        raise MissingMember(pattern)
    return {name: raw.decode("utf-8-sig") for name, raw in data.items()}


def clean(text: str) -> str:
    """Put one example on one line: tabs and line breaks become spaces; strip the ends."""
    return re.sub(r"[\t\r\n]+", " ", text).strip()


def write_tsv(target: Path, roles: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Write a header row and ``rows`` as unquoted UTF-8 TSV, replacing ``target`` at once."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="\n") as handle:
        for row in [roles, *rows]:
            handle.write("\t".join(row) + "\n")
    os.replace(partial, target)


def write_jsonl(target: Path, roles: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Write ``rows`` as JSON Lines (one object keyed by ``roles`` a line), replacing ``target``.

    JSON escapes line breaks and tabs inside values, so multi-line texts survive and
    :func:`seqpipe.data.readers.read_table` reads them back unchanged (it strips values,
    so store them stripped).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(dict(zip(roles, row))) + "\n")
    os.replace(partial, target)


def read_jsonl(target: Path, roles: tuple[str, ...]) -> list[tuple[str, ...]] | None:
    """The rows of a file written by :func:`write_jsonl`; None unless every line is an
    object with exactly the keys ``roles`` and string values."""
    rows = []
    try:
        with open(target, encoding="utf-8") as handle:
            for line in handle:
                obj = json.loads(line)
                if (not isinstance(obj, dict) or list(obj) != list(roles)
                        or not all(isinstance(value, str) for value in obj.values())):
                    return None
                rows.append(tuple(obj.values()))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return rows
