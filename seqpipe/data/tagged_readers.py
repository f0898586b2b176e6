"""The two formats that hold tagged sentences, one example per sentence with the roles ``tokens`` and ``tags``.

``conll`` holds one token per line in tab-separated columns and a blank line between sentences;
``wordtag`` holds one sentence per line of whitespace-separated ``word/TAG`` items. Read through
:func:`seqpipe.data.readers.read_table` (which documents both).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from seqpipe.data.reader_items import _count, _Item
from seqpipe.errors import DataError

TAGGING_ROLES = ("tokens", "tags")  # all that the conll and wordtag formats hold


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
) -> tuple[list[_Item], dict[str, str]]:
    """One item per sentence of a CoNLL-style file (see :func:`~seqpipe.data.readers.read_table`); a problem on any of
    its lines rules out the whole sentence and is named by that line."""
    items: list[_Item] = []
    sentence: list[list[str]] = [[] for _ in roles]  # the values of each role so far
    start = last = 0  # lines of the sentence's first and last token (0: no sentence open)
    problem: tuple[int, str, str] | None = None
    width = first = 0  # columns of the file's first token line, and its number
    indices: list[int] = []

    def finish() -> None:
        nonlocal start, problem
        if start:
            values = None if problem else [" ".join(values) for values in sentence]
            items.append(_Item(start, start, last, values, problem))
        for values in sentence:
            values.clear()
        start, problem = 0, None

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
        start, last = start or number, number
        if problem is not None:
            continue
        if len(fields) != width:
            expected = f"expected {width} as in line {first}"
            problem = (number, f"{_count(len(fields), 'column')}; {expected}", f"wrong number of columns; {expected}")
            continue
        for role, index, values in zip(roles, indices, sentence):
            value = fields[index]
            if not value:
                what = f"empty value in column {index} ({role}); expected a value"
                problem = (number, what, what)
                break
            if len(value.split()) > 1:
                kind = role[:-1]  # token or tag
                rest = (f"in column {index} contains whitespace; tokens are separated by whitespace in "
                        f"seqpipe, so a {kind} cannot hold any: join its parts with another character such "
                        "as _ (or, if the file separates its columns with spaces, use tabs)")
                problem = (number, f"{kind} '{value}' {rest}", f"a {kind} {rest}")
                break
            values.append(value)
    finish()
    return items, {role: f"column {index} ({role})" for role, index in zip(roles, indices)}


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


def _wordtag(text: str, roles: list[str]) -> tuple[list[_Item], dict[str, str]]:
    """One item per non-blank line of ``word/TAG`` items, split at the last ``/``."""
    items = []
    for number, line in enumerate(io.StringIO(text, newline=None), 1):
        entries = line.split()
        if not entries:
            continue
        words, tags = [], []
        for position, entry in enumerate(entries, 1):
            word, slash, tag = entry.rpartition("/")
            if not (slash and word and tag):
                rest = "(items are separated by whitespace and split at their last /)"
                items.append(_Item(number, number, number, problem=(
                    number, f"item {position} '{entry}' is not word/TAG {rest}", f"an item is not word/TAG {rest}")))
                break
            words.append(word)
            tags.append(tag)
        else:
            values = {"tokens": " ".join(words), "tags": " ".join(tags)}
            items.append(_Item(number, number, number, [values[role] for role in roles]))
    return items, {"tokens": "the words", "tags": "the tags"}
