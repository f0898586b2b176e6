"""Read a table of examples from a CSV, TSV, JSONL, plain-text, CoNLL or word/TAG file.

Every problem is one line naming the file. A problem of the whole file (not found, unknown
format, a missing column, an empty or header-only file, a file in another encoding) is always
a :class:`DataError`. A problem of one example is a :class:`~seqpipe.data.checks.RowProblem`
naming its 1-based row (CSV/TSV: the line where the record starts) or line: a blank row or
line, a row with the wrong number of fields, an empty value, invalid JSON or a missing key, a
line with bytes that are not UTF-8, a sentence whose token and tag counts differ, more tokens
than ``max_tokens``. With ``on_error="fail"`` (the default) all of a file's row problems become
one DataError (the first kind of problem, with its first rows and how many more, then where the
others are); with ``"skip"`` those examples are dropped and counted in a
:class:`~seqpipe.data.checks.DataReport`.

Values are stripped of surrounding whitespace; an empty value or blank line is a problem, never
silently dropped (except in the two tagged-sentence formats, where blank lines separate or
surround sentences).

Text is UTF-8; a leading byte order mark is dropped, and line ends may be LF, CRLF or CR in every
format. A line holding bytes that are not UTF-8 is a row problem named by its line (``x.csv line
17: not UTF-8 (invalid start byte 0xff)``). A file in another encoding (several such lines and no
UTF-8 beyond ASCII anywhere, as in a Latin-1 file with accents) is refused whole even with
``skip``, with the ``iconv`` command that converts it: nothing is guessed and no row is lost quietly.

Tagging examples (roles ``tokens`` and ``tags``) are one row each: the sentence's
tokens joined by single spaces and its tags joined by single spaces, as many of each.

The frame remembers where each row came from (:func:`seqpipe.data.checks.origin`).

The two tagged-sentence formats (CoNLL, word/TAG) are read in :mod:`seqpipe.data.tagged_readers`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from seqpipe.data.checks import ORIGIN, DataReport, Origin, RowProblem, on_problems
from seqpipe.data.files import FORMATS, SUFFIXES, is_gzip, read_bytes, table_format
from seqpipe.data.reader_items import _count, _Item
from seqpipe.data.tagged_readers import _check_tagging_roles, _conll, _wordtag
from seqpipe.errors import DataError

__all__ = ["FORMATS", "SUFFIXES", "read_table"]
JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number",
              float: "a number", bool: "a boolean", type(None): "null"}
LAYOUT = {  # what a file of each format holds, for "expected ..."
    "csv": "a header row, then one example per row",
    "tsv": "a header row, then one example per row",
    "jsonl": "one JSON object per line",
    "text": "one example per line",
    "conll": "one token per line in tab-separated columns, a blank line between sentences",
    "wordtag": "one sentence of word/TAG items per line",
}
BEYOND_ASCII = re.compile("[^\x00-\x7f\udc80-\udcff]")  # a character decoded from valid UTF-8
ON_ERROR = ("fail", "skip")


def read_table(
    path: str | Path,
    *,
    format: str = "auto",
    roles: list[str],
    columns: dict[str, str | int] | None = None,
    header: bool = True,
    on_error: str = "fail",
    max_tokens: int | None = None,
    report: DataReport | None = None,
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
    is a row problem. With ``max_tokens``, a row whose first role holds more
    whitespace-separated tokens is a row problem too.

    ``on_error``: ``"fail"`` raises one DataError for all row problems; ``"skip"`` drops
    those rows and adds them to ``report`` (a DataError still when no row is left).
    """
    path = Path(path)
    roles = list(roles)
    columns = dict(columns or {})
    if on_error not in ON_ERROR:
        raise ValueError(f"unknown on_error {on_error!r}; expected one of {', '.join(ON_ERROR)}")
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    fmt = table_format(path, format)
    if fmt == "text" and roles != ["text"]:
        raise DataError(
            f"{path}: the text format holds one example per line (role 'text' only); "
            f"this task needs {', '.join(roles)}; use csv, tsv or jsonl"
        )
    if fmt in ("conll", "wordtag"):
        _check_tagging_roles(path, fmt, roles, columns)
    text, bad = _decode(path, read_bytes(path))
    if not text.strip():
        layout = "one example per row" if fmt in ("csv", "tsv") and not header else LAYOUT[fmt]
        raise DataError(f"{path}: empty file; expected {layout}")
    if fmt == "text":
        items, labels = _text(text), {"text": "the line"}
    elif fmt == "jsonl":
        items, labels = _jsonl(path, text, roles, columns)
    elif fmt == "conll":
        items, labels = _conll(path, text, roles, columns)
    elif fmt == "wordtag":
        items, labels = _wordtag(text, roles)
    else:
        items, labels = _delimited(path, text, fmt, roles, columns, header, bad)
    unit = "row" if fmt in ("csv", "tsv") else "line"
    file = str(path)
    pair = (roles.index("tokens"), roles.index("tags")) if "tokens" in roles and "tags" in roles else None
    records: list[list[str]] = []
    numbers: list[int] = []
    problems: list[RowProblem] = []
    for item in items:
        line = next((n for n in range(item.first, item.last + 1) if n in bad), None) if bad else None
        if line is not None:
            expected = _utf8_expected(path)
            problems.append(RowProblem(file, "line", line, f"not UTF-8 ({bad[line]}); {expected}",
                                       f"not UTF-8; {expected}"))
            continue
        if item.problem is not None:
            number, what, kind = item.problem
        else:
            checked = _check_values(item.values, roles, labels, pair, max_tokens)
            if checked is None:
                records.append(item.values)
                numbers.append(item.number)
                continue
            number, (what, kind) = item.number, checked
        problems.append(RowProblem(file, unit, number, what, kind))
    on_problems(problems, on_error, bool(records), report)
    if not records:
        raise DataError(f"{path}: no examples; expected {LAYOUT[fmt]}")
    df = pd.DataFrame(records, columns=roles, dtype=str)
    df.attrs[ORIGIN] = Origin(file, unit, numbers, labels)
    return df


def _check_values(
    values: list[str], roles: list[str], labels: dict[str, str], pair: tuple[int, int] | None,
    max_tokens: int | None,
) -> tuple[str, str] | None:
    """``(what, kind)`` for a record whose token and tag counts differ or whose first role has more
    than ``max_tokens`` tokens; None when it is fine. Puts single spaces between tokens and tags."""
    if pair is not None:
        tokens, tags = pair
        words, labels_ = values[tokens].split(), values[tags].split()
        if len(words) != len(labels_):
            expected = "expected one tag per token (tokens and tags are each separated by spaces)"
            return (f"{_count(len(words), 'token')} but {_count(len(labels_), 'tag')}; {expected}",
                    f"token and tag counts differ; {expected}")
        values[tokens], values[tags] = " ".join(words), " ".join(labels_)
    if max_tokens is not None:
        count = len(values[0].split())
        if count > max_tokens:
            label = labels.get(roles[0], roles[0])
            expected = f"expected at most {max_tokens} (data.max_tokens)"
            return (f"{count} tokens in {label}; {expected}",
                    f"more than {max_tokens} tokens in {label}; {expected}")
    return None


def _decode(path: Path, raw: bytes) -> tuple[str, dict[int, str]]:
    """The text of a UTF-8 file (BOM dropped) and ``{line: reason}`` for lines that are not UTF-8
    (their bytes kept as surrogates). A file in another encoding is a DataError."""
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return raw.decode("utf-8"), {}
    except UnicodeDecodeError:
        pass
    bad: dict[int, str] = {}
    for number, line in enumerate(raw.splitlines(), 1):  # the line ends io and csv count
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad[number] = _reason(exc)
    text = raw.decode("utf-8", "surrogateescape")
    if len(bad) > 1 and not BEYOND_ASCII.search(text):
        first = min(bad)
        raise DataError(
            f"{path}: not UTF-8: {len(bad)} lines have bytes that are not UTF-8 (first line {first}: "
            f"{bad[first]}) and none has UTF-8 beyond ASCII, so the file is in another encoding; "
            f"{_utf8_expected(path)} (data.on_error: skip does not drop whole files)"
        )
    return text, bad


def _reason(exc: UnicodeDecodeError) -> str:
    """``invalid start byte 0xff``, ``invalid continuation byte after 0xe9``."""
    byte = exc.object[exc.start]
    if exc.reason == "invalid start byte":
        return f"invalid start byte 0x{byte:02x}"
    return f"{exc.reason} after 0x{byte:02x}"


def _utf8_expected(path: Path) -> str:
    if is_gzip(path):
        inner = path.with_suffix("")
        converted = path.with_name(f"{inner.stem}.utf8{inner.suffix}.gz")
        return (f"expected UTF-8 text (convert a Latin-1 file with: zcat {path} | iconv -f latin1 -t utf-8 | "
                f"gzip > {converted})")
    converted = path.with_name(f"{path.stem}.utf8{path.suffix}")
    return f"expected UTF-8 text (convert a Latin-1 file with: iconv -f latin1 -t utf-8 {path} > {converted})"


def _expected(roles: list[str], columns: dict[str, Any], kind: str) -> str:
    """``expected columns text, label (from ...)`` for a missing-column message."""
    names = ", ".join(str(columns.get(role, role)) for role in roles)
    origin = ("from data.source.columns" if columns
              else "the task's roles; map other names with data.source.columns")
    return f"expected {kind} {names} ({origin})"


def _text(text: str) -> list[_Item]:
    """One item per line; a blank line is a problem."""
    items = []
    for number, line in enumerate(io.StringIO(text, newline=None), 1):
        value = line.strip()
        if value:
            items.append(_Item(number, number, number, [value]))
        else:
            what = "empty line; expected one example per line"
            items.append(_Item(number, number, number, problem=(number, what, what)))
    return items


def _jsonl(
    path: Path, text: str, roles: list[str], columns: dict[str, Any]
) -> tuple[list[_Item], dict[str, str]]:
    keys = [columns.get(role, role) for role in roles]
    for role, key in zip(roles, keys):
        if not isinstance(key, str):
            raise DataError(
                f"{path}: data.source.columns.{role} is a column number; JSONL needs key names"
            )
    expected = "expected one JSON object per line"
    items = []
    for number, line in enumerate(io.StringIO(text, newline=None), 1):
        def problem(what: str, kind: str = "") -> None:
            items.append(_Item(number, number, number, problem=(number, what, kind or what)))

        line = line.strip()
        if not line:
            problem(f"empty line; {expected}")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problem(f"not valid JSON ({exc.msg}); {expected}", f"not valid JSON; {expected}")
            continue
        if not isinstance(obj, dict):
            problem(f"{JSON_TYPES[type(obj)]}, not a JSON object; {expected}",
                    f"not a JSON object; {expected}")
            continue
        record: list[str] = []
        for key in keys:
            if key not in obj:
                keys_expected = _expected(roles, columns, "keys")
                problem(f"no key '{key}'; {keys_expected}; the line has: {', '.join(obj)}",
                        f"no key '{key}'; {keys_expected}")
                break
            value = obj[key]
            if isinstance(value, (dict, list)):
                problem(f"value of '{key}' is {JSON_TYPES[type(value)]}; expected a string or a number",
                        f"value of '{key}' is an object or an array; expected a string or a number")
                break
            value = "" if value is None else str(value).strip()
            if not value:
                problem(f"empty value in key '{key}'; expected a value")
                break
            record.append(value)
        else:
            items.append(_Item(number, number, number, record))
    return items, {role: f"key '{key}'" for role, key in zip(roles, keys)}


def _delimited(
    path: Path, text: str, fmt: str, roles: list[str], columns: dict[str, Any], header: bool,
    bad: dict[int, str],
) -> tuple[list[_Item], dict[str, str]]:
    dialect = ({"delimiter": ",", "strict": True, "skipinitialspace": True} if fmt == "csv"
               else {"delimiter": "\t", "quoting": csv.QUOTE_NONE})
    reader = csv.reader(io.StringIO(text, newline=""), **dialect)
    rows: list[tuple[int, int, list[str]]] = []  # (first line, last line, fields) of each record
    start = 1
    try:
        for fields in reader:
            rows.append((start, reader.line_num, [field.strip() for field in fields]))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path} row {start}: malformed {fmt.upper()} ({exc})") from None
    if header:
        first, last, names = rows.pop(0)
        line = next((n for n in range(first, last + 1) if n in bad), None)
        if line is not None:
            raise DataError(f"{path} line {line}: not UTF-8 ({bad[line]}) in the header row; "
                            f"{_utf8_expected(path)}")
        if not rows:
            raise DataError(f"{path}: only a header row ({', '.join(names)}); expected one example "
                            "per row after it")
        width, reference = len(names), first
    else:
        names = []
        reference, _, fields = next(row for row in rows if row[2])
        width = len(fields)
    indices = [_column(path, role, columns, names, header, roles) for role in roles]
    for index in indices:
        if not 0 <= index < width:
            raise DataError(f"{path}: no column {index}; the file has {width} columns")
    labels = {role: (f"column '{names[index]}'" if header else f"column {index}")
              for role, index in zip(roles, indices)}
    items = []
    for first, last, fields in rows:
        item = _Item(first, first, last)
        if not fields:
            what = "empty row; expected one example per row"
            item.problem = (first, what, what)
        elif len(fields) != width:
            expected = f"expected {width} as in row {reference}"
            item.problem = (first, f"{_count(len(fields), 'field')}; {expected}", f"wrong number of fields; {expected}")
        else:
            empty = next((role for role, index in zip(roles, indices) if not fields[index]), None)
            if empty is not None:
                what = f"empty value in {labels[empty]}; expected a value"
                item.problem = (first, what, what)
            else:
                item.values = [fields[index] for index in indices]
        items.append(item)
    return items, labels


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
