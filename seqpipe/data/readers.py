"""Read a table of examples from a CSV, TSV, JSONL or plain-text file.

Every problem becomes a one-line :class:`DataError` naming the file and, where it
applies, the 1-based row or line in the file. Values are stripped of surrounding
whitespace; an empty value or blank line is an error, never silently dropped.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from seqpipe.errors import DataError

FORMATS = ("csv", "tsv", "jsonl", "text")
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".txt": "text"}
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
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if fmt == "text":
        records = [[value] for value in _lines(path, text)]
    elif fmt == "jsonl":
        records = _jsonl(path, text, roles, columns)
    else:
        records = _delimited(path, text, fmt, roles, columns, header)
    if not records:
        raise DataError(f"{path}: no examples")
    return pd.DataFrame(records, columns=roles, dtype=str)


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


def _jsonl(path: Path, text: str, roles: list[str], columns: dict[str, Any]) -> list[list[str]]:
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
        records.append(record)
    return records


def _delimited(
    path: Path, text: str, fmt: str, roles: list[str], columns: dict[str, Any], header: bool
) -> list[list[str]]:
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
        records.append([fields[index] for index in indices])
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
