"""Read a table of examples from a CSV, TSV, JSONL, plain-text, CoNLL or word/TAG file.

Every problem becomes a one-line :class:`DataError` naming the file and, where it
applies, the 1-based row or line in the file. Values are stripped of surrounding
whitespace; an empty value or blank line is an error, never silently dropped (except
in the two tagged-sentence formats, where blank lines separate or surround sentences).

Tagging examples (roles ``tokens`` and ``tags``) are one row each: the sentence's
tokens joined by single spaces and its tags joined by single spaces, as many of each.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from seqpipe.errors import DataError

FORMATS = ("csv", "tsv", "jsonl", "text", "conll", "wordtag")
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".txt": "text", ".conll": "conll", ".conllu": "conll", ".bio": "conll",
            ".iob": "conll"}
TAGGING_ROLES = ("tokens", "tags")  # all that the conll and wordtag formats hold
JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number",
              float: "a number", bool: "a boolean", type(None): "null"}


def read_table(
    path: str | Path,
    *,
    format: str = "auto",
    roles: list[str],
    columns: dict[str, str | int] | None = None,
    header: bool = True,
) -> pd.DataFrame:
    """Read ``path`` and return exactly the columns ``roles``, in order, as strings.

    ``columns`` maps a role to the file's column name (or JSON key), or to a 0-based
    column index; unmapped roles are looked up under their own name. For CSV/TSV
    without a header row, unmapped roles take the columns in order. ``format="auto"``
    picks the format from the suffix. CSV follows the usual quoting rules; TSV is
    unquoted (fields hold no tabs or line breaks); JSONL holds one JSON object per line;
    text holds one example per line and gives the role ``text`` only.

    Two formats hold tagged sentences and give the roles ``tokens`` and ``tags`` only,
    one row per sentence: ``conll`` has one token per line in tab-separated columns and
    a blank line between sentences (``columns`` gives 0-based column numbers; by default
    tokens are column 0 and tags the last column; ``-DOCSTART-`` lines and ``#`` comment
    lines without a tab are skipped; ``header`` is ignored); ``wordtag`` has one sentence
    per line of whitespace-separated ``word/TAG`` items, split at the last ``/``.

    Whenever ``roles`` holds both ``tokens`` and ``tags`` (in any format), their values
    are re-joined with single spaces and a row with more tokens than tags, or fewer,
    is an error naming its line or row.
    """
    path = Path(path)
    roles = list(roles)
    columns = dict(columns or {})
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    fmt = _format(path, format)
    if fmt == "text" and roles != ["text"]:
        raise DataError(
            f"{path}: the text format holds one example per line (role 'text' only); "
            f"this task needs {', '.join(roles)}; use csv, tsv or jsonl"
        )
    if fmt in ("conll", "wordtag"):
        _check_tagging_roles(path, fmt, roles, columns)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if fmt == "text":
        numbered = [(f"line {number}", [value])
                    for number, value in enumerate(_lines(path, text), 1)]
    elif fmt == "jsonl":
        numbered = _jsonl(path, text, roles, columns)
    elif fmt == "conll":
        numbered = _conll(path, text, roles, columns)
    elif fmt == "wordtag":
        numbered = _wordtag(path, text, roles)
    else:
        numbered = _delimited(path, text, fmt, roles, columns, header)
    if not numbered:
        raise DataError(f"{path}: no examples")
    if "tokens" in roles and "tags" in roles:
        _check_tag_counts(path, numbered, roles.index("tokens"), roles.index("tags"))
    return pd.DataFrame([record for _, record in numbered], columns=roles, dtype=str)


def _check_tag_counts(
    path: Path, numbered: list[tuple[str, list[str]]], tokens: int, tags: int
) -> None:
    """Put single spaces between the tokens and between the tags of every record, and
    raise DataError for a record whose token count differs from its tag count."""
    for where, record in numbered:
        words, labels = record[tokens].split(), record[tags].split()
        if len(words) != len(labels):
            raise DataError(
                f"{path} {where}: {_count(len(words), 'token')} but "
                f"{_count(len(labels), 'tag')}; expected one tag per token (tokens and tags "
                "are each separated by spaces)"
            )
        record[tokens], record[tags] = " ".join(words), " ".join(labels)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _format(path: Path, format: str) -> str:
    if format != "auto":
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; expected auto or one of {FORMATS}")
        return format
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        suffix = f"the suffix '{path.suffix}'" if path.suffix else "a name without a suffix"
        raise DataError(
            f"{path}: cannot tell the format from {suffix}; set data.source.format "
            f"to one of {', '.join(FORMATS)}"
        )
    return fmt


def _expected(roles: list[str], columns: dict[str, Any], kind: str) -> str:
    """``expected columns text, label (from ...)`` for a missing-column message."""
    names = ", ".join(str(columns.get(role, role)) for role in roles)
    origin = ("from data.source.columns" if columns
              else "the task's roles; map other names with data.source.columns")
    return f"expected {kind} {names} ({origin})"


def _lines(path: Path, text: str) -> list[str]:
    """Stripped lines of a text file; a blank line is an error."""
    values = []
    for number, line in enumerate(io.StringIO(text, newline=None), 1):
        value = line.strip()
        if not value:
            raise DataError(f"{path} line {number}: empty line")
        values.append(value)
    return values


def _jsonl(
    path: Path, text: str, roles: list[str], columns: dict[str, Any]
) -> list[tuple[str, list[str]]]:
    keys = [columns.get(role, role) for role in roles]
    for role, key in zip(roles, keys):
        if not isinstance(key, str):
            raise DataError(
                f"{path}: data.source.columns.{role} is a column number; JSONL needs key names"
            )
    records = []
    for number, line in enumerate(_lines(path, text), 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(
                f"{path} line {number}: expected a JSON object; got {JSON_TYPES[type(obj)]}"
            )
        record = []
        for key in keys:
            if key not in obj:
                raise DataError(
                    f"{path} line {number}: no key '{key}'; {_expected(roles, columns, 'keys')}; "
                    f"the line has: {', '.join(obj)}"
                )
            value = obj[key]
            if isinstance(value, (dict, list)):
                raise DataError(
                    f"{path} line {number}: value of '{key}' is {JSON_TYPES[type(value)]}; "
                    "expected a string or a number"
                )
            value = "" if value is None else str(value).strip()
            if not value:
                raise DataError(f"{path} line {number}: empty value in key '{key}'")
            record.append(value)
        records.append((f"line {number}", record))
    return records


def _delimited(
    path: Path, text: str, fmt: str, roles: list[str], columns: dict[str, Any], header: bool
) -> list[tuple[str, list[str]]]:
    dialect = ({"delimiter": ",", "strict": True, "skipinitialspace": True} if fmt == "csv"
               else {"delimiter": "\t", "quoting": csv.QUOTE_NONE})
    reader = csv.reader(io.StringIO(text, newline=""), **dialect)
    rows: list[tuple[int, list[str]]] = []  # (row number where the record starts, fields)
    start = 1
    try:
        for fields in reader:
            rows.append((start, [field.strip() for field in fields]))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path} row {start}: malformed {fmt.upper()} ({exc})") from None
    if not rows:
        raise DataError(f"{path}: no examples")
    names = rows.pop(0)[1] if header else []
    width = len(names) if header else len(rows[0][1])
    indices = [_column(path, role, columns, names, header, roles) for role in roles]
    records = []
    for number, fields in rows:
        if not fields:
            raise DataError(f"{path} row {number}: empty row")
        if len(fields) != width:
            raise DataError(
                f"{path} row {number}: {len(fields)} fields; expected {width} as in row 1"
            )
        for index in indices:
            if not 0 <= index < width:
                raise DataError(f"{path}: no column {index}; the file has {width} columns")
            if not fields[index]:
                column = f"'{names[index]}'" if header else str(index)
                raise DataError(f"{path} row {number}: empty value in column {column}")
        records.append((f"row {number}", [fields[index] for index in indices]))
    return records


def _column(
    path: Path, role: str, columns: dict[str, Any], names: list[str], header: bool, roles: list[str]
) -> int:
    """The 0-based position of ``role``'s column."""
    column = columns.get(role, role if header else roles.index(role))
    if isinstance(column, int):
        return column
    if not header:
        raise DataError(
            f"{path}: data.source.columns.{role} is a column name but the file has no header "
            "row; give a 0-based column number or set data.source.header: true"
        )
    if column not in names:
        raise DataError(
            f"{path}: no column '{column}'; {_expected(roles, columns, 'columns')}; "
            f"the file has: {', '.join(names)}"
        )
    return names.index(column)


def _check_tagging_roles(path: Path, fmt: str, roles: list[str], columns: dict[str, Any]) -> None:
    """Refuse roles and column mappings that a conll or wordtag file cannot hold."""
    other = [role for role in roles if role not in TAGGING_ROLES]
    if other:
        raise DataError(
            f"{path}: the {fmt} format holds tokens and tags only, not {', '.join(other)}; "
            "use csv, tsv or jsonl for other columns"
        )
    if fmt == "wordtag" and columns:
        raise DataError(
            f"{path}: data.source.columns does not apply to the wordtag format (each item is "
            "word/TAG); remove it"
        )
    for role, column in columns.items():
        if role not in TAGGING_ROLES:
            raise DataError(
                f"{path}: data.source.columns.{role}: the conll format holds tokens and tags "
                "only; map just those to column numbers"
            )
        if isinstance(column, bool) or not isinstance(column, int):
            raise DataError(
                f"{path}: data.source.columns.{role} is a column name ('{column}'); the conll "
                "format has no header row, so give a 0-based column number"
            )


def _conll(
    path: Path, text: str, roles: list[str], columns: dict[str, Any]
) -> list[tuple[str, list[str]]]:
    """One record per sentence of a CoNLL-style file (see :func:`read_table`)."""
    records: list[tuple[str, list[str]]] = []
    sentence: list[list[str]] = [[] for _ in roles]  # the values of each role so far
    start = 0  # line of the sentence's first token
    width = first = 0  # columns of the file's first token line, and its number
    indices: list[int] = []

    def finish() -> None:
        if sentence[0]:
            records.append((f"line {start}", [" ".join(values) for values in sentence]))
            for values in sentence:
                values.clear()

    for number, line in enumerate(io.StringIO(text, newline=None), 1):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("-DOCSTART-"):
            finish()
            continue
        if line.startswith("#") and "\t" not in line:
            continue
        fields = [field.strip() for field in line.split("\t")]
        if not width:
            width, first = len(fields), number
            indices = [_conll_column(path, role, columns, width, first) for role in roles]
        elif len(fields) != width:
            raise DataError(
                f"{path} line {number}: {len(fields)} columns; expected {width} as in line {first}"
            )
        if not sentence[0]:
            start = number
        for role, index, values in zip(roles, indices, sentence):
            value = fields[index]
            if not value:
                raise DataError(f"{path} line {number}: empty value in column {index} ({role})")
            if len(value.split()) > 1:
                kind = role[:-1]  # token or tag
                raise DataError(
                    f"{path} line {number}: {kind} '{value}' in column {index} contains "
                    f"whitespace; tokens are separated by whitespace in seqpipe, so a {kind} "
                    "cannot hold any: join its parts with another character such as _ (or, "
                    "if the file separates its columns with spaces, use tabs)"
                )
            values.append(value)
    finish()
    return records


def _conll_column(path: Path, role: str, columns: dict[str, Any], width: int, first: int) -> int:
    """The 0-based column of ``role`` in a conll file: mapped, else 0 for tokens and the
    last column for tags."""
    index = columns.get(role, 0 if role == "tokens" else width - 1)
    if not 0 <= index < width:
        raise DataError(
            f"{path}: no column {index} for {role} (data.source.columns.{role}); line {first} "
            f"has {width} columns, numbered 0 to {width - 1}"
        )
    return index


def _wordtag(path: Path, text: str, roles: list[str]) -> list[tuple[str, list[str]]]:
    """One record per non-blank line of ``word/TAG`` items, split at the last ``/``."""
    records = []
    for number, line in enumerate(io.StringIO(text, newline=None), 1):
        items = line.split()
        if not items:
            continue
        words, tags = [], []
        for position, item in enumerate(items, 1):
            word, slash, tag = item.rpartition("/")
            if not (slash and word and tag):
                raise DataError(
                    f"{path} line {number}: item {position} '{item}' is not word/TAG (items "
                    "are separated by whitespace and split at their last /)"
                )
            words.append(word)
            tags.append(tag)
        values = {"tokens": " ".join(words), "tags": " ".join(tags)}
        records.append((f"line {number}", [values[role] for role in roles]))
    return records
