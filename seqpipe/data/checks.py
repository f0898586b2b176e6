"""Data problems: one-line messages, what ``data.on_error: skip`` dropped, and checks tasks call.

A problem with one example (a row of a CSV/TSV file, a line of a JSONL, text or word/TAG
file, a sentence of a CoNLL file) is a :class:`RowProblem`. With ``data.on_error: fail``
(the default) the readers gather every problem of a file and raise one line for them all::

    data/train.tsv rows 17, 40 and 3 more: empty value in column 'label'; expected a value
    (data.on_error: skip drops such rows)

(one line on the terminal). With ``skip`` they drop those examples and count them in a :class:`DataReport`.

Every frame that :func:`seqpipe.data.load_data` returns knows where its rows came from
(:func:`origin`), so the task-agnostic checks below (:func:`single_value`,
:func:`values_only_in_heldout`) name the file and row of what they find.

Importing this module stays light (no pandas): the frames are only duck-typed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    import pandas as pd

SKIP_HINT = "data.on_error: skip drops such rows"
EXAMPLES = 5  # problem lines a DataReport keeps
SHOWN_VALUES = 20  # known values listed in a message
ORIGIN = "seqpipe.origin"  # key of a frame's Origin in ``frame.attrs``
HELDOUT = ("valid", "test")

Location = tuple[str | None, str, int]  # (file or None, "row" or "line", number)


@dataclass(frozen=True)
class RowProblem:
    """One example that cannot be used.

    ``what`` describes this example's problem and what was expected (``3 fields; expected 2 as
    in row 1``); ``kind`` says the same for every example with this problem (``wrong number of
    fields; expected 2 as in row 1``), and is used when several examples are reported together.
    """

    file: str
    unit: str  # "row" (CSV/TSV) or "line"
    number: int
    what: str
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", self.what)

    def __str__(self) -> str:
        return f"{self.file} {self.unit} {self.number}: {self.what}"


def where(locations: Sequence[Location]) -> str:
    """``data/x.tsv rows 17, 40 and 3 more``: the first two of many places, or all of up to three."""
    shown = list(locations) if len(locations) <= 3 else list(locations[:2])
    more = len(locations) - len(shown)
    groups: list[tuple[str | None, str, list[int]]] = []
    for file, unit, number in shown:
        if groups and groups[-1][:2] == (file, unit):
            groups[-1][2].append(number)
        else:
            groups.append((file, unit, [number]))
    items: list[str] = []
    for position, (file, unit, numbers) in enumerate(groups):
        plural = len(numbers) > 1 or (more and position == len(groups) - 1)
        head = (f"{file} " if file else "") + unit + ("s" if plural else "")
        items += [f"{head} {numbers[0]}"] + [str(number) for number in numbers[1:]]
    if more:
        items.append(f"{more} more")
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def problem_message(problems: Sequence[RowProblem], *, hint: str = SKIP_HINT) -> str:
    """One line for all of a file's problems: the first problem's kind with the places that have
    it, then where the other problems are."""
    first = problems[0]
    same = [p for p in problems if (p.file, p.kind) == (first.file, first.kind)]
    others = [p for p in problems if (p.file, p.kind) != (first.file, first.kind)]
    text = first.what if all(p.what == first.what for p in same) else first.kind
    line = f"{where([(p.file, p.unit, p.number) for p in same])}: {text} ({hint})"
    if others:
        line += "; other problems at " + where(
            [(p.file if p.file != first.file else None, p.unit, p.number) for p in others])
    return line


def on_problems(problems: Sequence[RowProblem], on_error: str, kept: bool, report: DataReport | None) -> None:
    """What ``data.on_error`` does with a file's row problems: ``fail`` raises one DataError for them all;
    ``skip`` adds them to ``report``, or raises when no row is ``kept``."""
    from seqpipe.errors import DataError

    if not problems:
        return
    if on_error == "fail":
        raise DataError(problem_message(problems))
    if not kept:
        raise DataError(problem_message(problems, hint="data.on_error: skip would drop every row and leave none"))
    if report is not None:
        report.add(problems)


@dataclass
class DataReport:
    """What ``data.on_error: skip`` dropped while the data was read.

    ``skipped``: rows (examples) dropped per file; ``problems``: rows dropped per kind of problem
    (``"data/train.tsv: empty value in column 'label'; expected a value"``); ``examples``: the
    first few problems, one line each (``data/train.tsv row 17: empty value in column 'label';
    expected a value``).
    """

    skipped: dict[str, int] = field(default_factory=dict)
    problems: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def add(self, problems: Iterable[RowProblem]) -> None:
        for problem in problems:
            self.skipped[problem.file] = self.skipped.get(problem.file, 0) + 1
            key = f"{problem.file}: {problem.kind}"
            self.problems[key] = self.problems.get(key, 0) + 1
            if len(self.examples) < EXAMPLES:
                self.examples.append(str(problem))

    @property
    def total(self) -> int:
        """Rows dropped in all files."""
        return sum(self.skipped.values())

    def __bool__(self) -> bool:
        return self.total > 0

    def summary(self) -> str:
        """``data.on_error: skip dropped 7 rows: data/train.tsv 5, data/dev.tsv 2`` (or that none were)."""
        if not self.total:
            return "data: no rows dropped"
        files = ", ".join(f"{file} {count}" for file, count in self.skipped.items())
        return f"data.on_error: skip dropped {_count(self.total, 'row')}: {files}"

    def lines(self) -> list[str]:
        """The summary, one line per kind of problem with its count, then the first examples."""
        if not self.total:
            return [self.summary()]
        return ([self.summary()] + [f"  {count} x {kind}" for kind, count in self.problems.items()]
                + [f"  e.g. {example}" for example in self.examples])

    def metrics(self) -> dict[str, float]:
        """``{"data_skipped_rows": total}`` for the tracker."""
        return {"data_skipped_rows": float(self.total)}


# --- where a frame's rows came from ------------------------------------------------------------

class Origin:
    """The file a frame's rows were read from, each row's number in it, and each role's column.

    Kept in ``frame.attrs[ORIGIN]``; pandas copies ``attrs`` to derived frames and this object
    copies as itself, so it costs nothing. Row ``i`` of the frame is ``unit numbers[i]`` of
    ``file_of(i)``: ``file``, or ``files[i]`` for rows read from several files (shards); ``file``
    is then the first. ``columns`` maps a role to how messages name its column (``column 'stars'``).
    """

    __slots__ = ("file", "unit", "numbers", "columns", "files")

    def __init__(self, file: str, unit: str, numbers: Sequence[int], columns: dict[str, str],
                 files: Sequence[str] | None = None):
        files = tuple(files) if files is not None else None
        if files is not None and len(set(files)) == 1:
            file, files = files[0], None
        self.file, self.unit, self.numbers, self.columns = file, unit, tuple(numbers), dict(columns)
        self.files = files or None

    def __deepcopy__(self, memo) -> Origin:
        return self

    def file_of(self, row: int) -> str:
        """The file of the 0-based ``row``."""
        return self.files[row] if self.files is not None else self.file

    def take(self, positions: Iterable[int]) -> Origin:
        """The origin of the rows at ``positions`` (in that order)."""
        positions = [int(i) for i in positions]
        files = [self.files[i] for i in positions] if self.files is not None else None
        return Origin(self.file, self.unit, [self.numbers[i] for i in positions], self.columns, files)

    @staticmethod
    def join(origins: Sequence[Origin]) -> Origin:
        """The origin of frames read one after the other (shards), each row keeping its file."""
        first = origins[0]
        files = [o.file_of(i) for o in origins for i in range(len(o.numbers))]
        return Origin(first.file, first.unit, [n for o in origins for n in o.numbers], first.columns, files)


def origin(frame: pd.DataFrame) -> Origin | None:
    """The :class:`Origin` of a frame from :func:`seqpipe.data.load_data` (None for other frames)."""
    found = frame.attrs.get(ORIGIN)
    return found if isinstance(found, Origin) and len(found.numbers) == len(frame) else None


def locate(frame: pd.DataFrame, split: str, row: int) -> Location:
    """``(file, unit, number)`` of the 0-based ``row`` of ``frame``; ``(f"{split} split", "row",
    row + 1)`` when the frame does not know its file."""
    known = origin(frame)
    if known is None:
        return (f"{split} split", "row", row + 1)
    return (known.file_of(row), known.unit, known.numbers[row])


def column_label(frame: pd.DataFrame, column: str) -> str:
    """How a message names ``column``: ``column 'stars'`` (the file's name for it) or ``column 'label'``."""
    known = origin(frame)
    return known.columns.get(column, f"column '{column}'") if known else f"column '{column}'"


# --- checks a task can call -------------------------------------------------------------------

def single_value(splits: dict[str, pd.DataFrame], column: str) -> str | None:
    """A one-line problem when every row of the train split has the same value in ``column``
    (a classifier with a single class), else None.

    ``data/train.tsv: all 40 rows of the train split have 'pos' in column 'label'; expected at least
    2 different values``.
    """
    train = splits["train"]
    values = train[column].unique().tolist() if column in train.columns else []
    if len(values) != 1:
        return None
    known = origin(train)
    file = f"{known.file}: " if known else ""
    return (f"{file}all {_count(len(train), 'row')} of the train split have {values[0]!r} in "
            f"{column_label(train, column)}; expected at least 2 different values")


def values_only_in_heldout(
    splits: dict[str, pd.DataFrame], column: str, *, tokens: bool = False
) -> dict[str, list[tuple[str, int]]]:
    """``{value: [(split, row), ...]}`` for each value of ``column`` in the valid or test split
    that never occurs in the train split; ``row`` is the 0-based position in that split's frame.

    With ``tokens=True`` the column holds whitespace-separated items (tags) and each item is a
    value. Values are in order of first appearance (valid before test), rows in order.
    """
    def items(text: str) -> list[str]:
        return text.split() if tokens else [text]

    seen = {item for text in splits["train"][column].tolist() for item in items(text)}
    found: dict[str, list[tuple[str, int]]] = {}
    for split in HELDOUT:
        frame = splits.get(split)
        if frame is None or column not in frame.columns:
            continue
        for row, text in enumerate(frame[column].tolist()):
            for item in dict.fromkeys(items(text)):
                if item not in seen:
                    found.setdefault(item, []).append((split, row))
    return found


def heldout_message(
    splits: dict[str, pd.DataFrame], column: str, found: dict[str, list[tuple[str, int]]],
    *, tokens: bool = False, hint: str = SKIP_HINT,
) -> str:
    """One line for what :func:`values_only_in_heldout` found:

    ``data/dev.tsv rows 3, 9 and 2 more: 'neutral' in column 'label' does not occur in the train
    split; expected one of the 2 values seen in training: neg, pos (data.on_error: skip drops such
    rows); other values only in held-out rows: 'x' (data/test.tsv row 4)``
    """
    (value, rows), *others = found.items()
    places = where([locate(splits[split], split, row) for split, row in rows])
    label = column_label(splits[rows[0][0]], column)
    known = sorted({item for text in splits["train"][column].tolist()
                    for item in (text.split() if tokens else [text])})
    shown = ", ".join(known[:SHOWN_VALUES]) + (f" and {len(known) - SHOWN_VALUES} more"
                                               if len(known) > SHOWN_VALUES else "")
    line = (f"{places}: {value!r} in {label} does not occur in the train split; expected one of the "
            f"{_count(len(known), 'value')} seen in training: {shown} ({hint})")
    if others:
        listed = ", ".join(f"{other!r} ({where([locate(splits[s], s, r) for s, r in other_rows[:1]])})"
                           for other, other_rows in others[:3])
        more = f" and {len(others) - 3} more" if len(others) > 3 else ""
        line += f"; other values only in held-out rows: {listed}{more}"
    return line


def drop_rows(
    splits: dict[str, pd.DataFrame], found: dict[str, list[tuple[str, int]]], report: DataReport | None = None,
    *, column: str | None = None,
) -> dict[str, pd.DataFrame]:
    """``splits`` without the rows that :func:`values_only_in_heldout` found (for ``on_error: skip``);
    each dropped row is counted in ``report`` when given. The frames keep their :class:`Origin`."""
    drop: dict[str, set[int]] = {}
    for value, rows in found.items():
        for split, row in rows:
            if row not in drop.setdefault(split, set()) and report is not None:
                file, unit, number = locate(splits[split], split, row)
                label = column_label(splits[split], column) if column else "a column"
                expected = "expected a value seen in training"
                report.add([RowProblem(file, unit, number,
                                       f"{value!r} in {label} does not occur in the train split; {expected}",
                                       f"a value in {label} does not occur in the train split; {expected}")])
            drop[split].add(row)
    out = dict(splits)
    for split, rows in drop.items():
        frame = splits[split]
        keep = [i for i in range(len(frame)) if i not in rows]
        known = origin(frame)
        kept = frame.iloc[keep].reset_index(drop=True)
        if known is not None:
            kept.attrs[ORIGIN] = known.take(keep)
        out[split] = kept
    return out


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"
