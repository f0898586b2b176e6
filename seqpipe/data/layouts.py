"""Read the files of one split (a :class:`~seqpipe.data.files.FileSet`) into one frame.

A table's shards are each read by :func:`seqpipe.data.readers.read_table` and concatenated in order.
Parallel files hold one role each, one example per line (tabs inside a line are part of the value):
they are first checked to have as many lines as each other (:func:`~seqpipe.data.files.check_parallel`),
then line ``n`` of every file makes example ``n``. A line's problems (blank, not UTF-8, more than
``max_tokens``, token and tag counts that differ) follow ``data.on_error`` as in every other format,
named by that file and line. Every row keeps its own file and line (:class:`~seqpipe.data.checks.Origin`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from seqpipe.data.checks import ORIGIN, DataReport, Origin, RowProblem, on_problems
from seqpipe.data.files import PARALLEL, FileSet, check_parallel, read_bytes
from seqpipe.data.readers import _check_values, _decode, _text, _utf8_expected, read_table
from seqpipe.errors import DataError


def read_files(
    fileset: FileSet, *, roles: list[str], format: str = "auto", columns: dict | None = None, header: bool = True,
    on_error: str = "fail", max_tokens: int | None = None, report: DataReport | None = None,
) -> pd.DataFrame:
    """The examples of every file of ``fileset``, exactly the columns ``roles`` in order, as strings.

    ``format``, ``columns`` and ``header`` apply to a table's shards (see ``read_table``); with parallel
    files each role is read from its own file, which must be among the fileset's roles."""
    if fileset.kind == PARALLEL:
        missing = [role for role in roles if role not in fileset.roles()]
        if missing:
            raise DataError(f"{fileset.where or 'data.source'}: no file for {', '.join(missing)}; parallel files "
                            f"give one file per role: {', '.join(roles)} (given: {', '.join(fileset.roles())})")
        check_parallel(fileset)
        frames = [_read_parallel(shard, roles, on_error, max_tokens, report) for shard in fileset.shards]
    else:
        frames = [read_table(shard["table"], format=format, roles=roles, columns=columns, header=header,
                             on_error=on_error, max_tokens=max_tokens, report=report) for shard in fileset.shards]
    if len(frames) == 1:
        return frames[0]
    origins = [frame.attrs[ORIGIN] for frame in frames]
    for frame in frames:
        frame.attrs.clear()
    joined = pd.concat(frames, ignore_index=True)
    joined.attrs[ORIGIN] = Origin.join(origins)
    return joined


def _read_parallel(
    shard: dict[str, Path], roles: list[str], on_error: str, max_tokens: int | None, report: DataReport | None,
) -> pd.DataFrame:
    """One example per line of the files of ``shard`` (as many lines each: checked before)."""
    lines = {}
    for role in roles:
        path = shard[role]
        if not path.is_file():
            raise DataError(f"{path}: not a file")
        text, bad = _decode(path, read_bytes(path))
        if not text.strip():
            raise DataError(f"{path}: empty file; expected one example per line ({role})")
        lines[role] = (path, _text(text), bad)
    labels = {role: f"the {role} file" for role in roles}
    pair = (roles.index("tokens"), roles.index("tags")) if "tokens" in roles and "tags" in roles else None
    first = shard[roles[0]]
    records, numbers, problems = [], [], []
    for row in range(len(lines[roles[0]][1])):
        values, problem = [], None
        for role in roles:
            path, items, bad = lines[role]
            item = items[row]
            if item.number in bad:
                expected = _utf8_expected(path)
                problem = RowProblem(str(path), "line", item.number, f"not UTF-8 ({bad[item.number]}); {expected}",
                                     f"not UTF-8; {expected}")
            elif item.problem is not None:
                problem = RowProblem(str(path), "line", *item.problem)
            if problem is not None:
                break
            values.append(item.values[0])
        else:
            checked = _check_values(values, roles, labels, pair, max_tokens)
            if checked is not None:
                problem = RowProblem(str(first), "line", row + 1, *checked)
        if problem is not None:
            problems.append(problem)
            continue
        records.append(values)
        numbers.append(row + 1)
    on_problems(problems, on_error, bool(records), report)
    if not records:
        raise DataError(f"{first}: no examples; expected one example per line")
    frame = pd.DataFrame(records, columns=roles, dtype=str)
    frame.attrs[ORIGIN] = Origin(str(first), "line", numbers, labels)
    return frame
