"""What a format reader of :mod:`seqpipe.data.readers` and :mod:`seqpipe.data.tagged_readers` hands back:
one example per :class:`_Item` (its values, or the problem that rules it out)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Item:
    """One example as a format reads it: its values, or the problem that rules it out."""

    number: int  # the row or line that names it
    first: int  # the lines it spans, for the UTF-8 check
    last: int
    values: list[str] | None = None
    problem: tuple[int, str, str] | None = None  # (row or line, what, kind) as in RowProblem


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
