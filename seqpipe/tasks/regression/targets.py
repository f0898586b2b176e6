"""The regression task's data check: every target is a finite number (pandas only, no TensorFlow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqpipe.data.checks import ORIGIN, DataReport, RowProblem, column_label, locate, origin, problem_message
from seqpipe.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

EXPECTED = "expected a finite number such as 0.25 or -3e2"


def numeric_targets(splits: dict[str, pd.DataFrame], on_error: str, report: DataReport | None
                    ) -> dict[str, pd.DataFrame]:
    """``splits`` with the ``target`` column as float64.

    A target that is not a finite number (``abc``, ``1,5``, ``nan``, ``inf``) is a row problem naming the file
    and row: with ``on_error: fail`` one DataError line for them all; with ``skip`` those rows are dropped and
    counted in ``report`` (the frames keep knowing where their rows came from).
    """
    import numpy as np
    import pandas as pd

    problems: list[RowProblem] = []
    bad_rows: dict[str, np.ndarray] = {}
    values: dict[str, pd.Series] = {}
    for split, frame in splits.items():
        numbers = pd.to_numeric(frame["target"], errors="coerce").astype("float64")
        bad = ~np.isfinite(numbers.to_numpy())
        values[split], bad_rows[split] = numbers, np.flatnonzero(bad)
        label = column_label(frame, "target")
        for row in bad_rows[split]:
            file, unit, number = locate(frame, split, int(row))
            problems.append(RowProblem(str(file), unit, number,
                                       f"{frame['target'].iloc[row]!r} in {label} is not a number; {EXPECTED}",
                                       f"a value in {label} is not a number; {EXPECTED}"))
    if problems and on_error != "skip":
        problems.sort(key=lambda p: (p.file, p.number))
        raise DataError(problem_message(problems))
    if problems and report is not None:
        report.add(problems)
    out = {}
    for split, frame in splits.items():
        known = origin(frame)
        keep = np.setdiff1d(np.arange(len(frame)), bad_rows[split])
        kept = frame.iloc[keep].reset_index(drop=True) if len(bad_rows[split]) else frame.copy()
        kept["target"] = values[split].iloc[keep].to_numpy()
        if known is not None:
            kept.attrs[ORIGIN] = known.take(keep)
        out[split] = kept
    if not len(out["train"]):
        raise DataError("no row of the train split has a numeric target; the regression task needs numbers")
    return out
