"""Errors that reach the user as one line each, and the exit codes they map to.

Exit codes follow pre-commit's convention: 2 for bad input (config, data, usage) and for what the
user must fix on the machine (a damaged checkpoint, a full disk), 3 for a bug in seqpipe, 130 when
interrupted; 4 says a run finished with warnings (every result computed and kept, but tracking could
not record something).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

EXIT_USER_ERROR = 2
EXIT_BUG = 3
EXIT_INTERRUPTED = 130
EXIT_WARNINGS = 4


class SeqpipeError(Exception):
    """Base class for errors caused by the user's input; printed without a traceback."""

    exit_code = EXIT_USER_ERROR

    def lines(self) -> list[str]:
        return [str(self)]


class ConfigError(SeqpipeError):
    """One or more problems in a pipeline configuration.

    Each problem is one line: ``file:line: key.path: message``.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def lines(self) -> list[str]:
        return self.problems


class TrialPruned(SeqpipeError):
    """A sweep's pruner stopped this trial after an epoch (see :mod:`seqpipe.train.pruning`); not a failure."""

    def __init__(self, epoch: int, metric: str, value: float):
        self.epoch, self.metric, self.value = epoch, metric, value
        super().__init__(f"pruned by the sweep after epoch {epoch} ({metric} {value:.4g})")


class DataError(SeqpipeError):
    """A data file or dataset recipe could not be read (says which file and row)."""


class PipelineError(SeqpipeError):
    """The stage chain is inconsistent (a stage needs an artifact nobody provides)."""


class TrackingError(SeqpipeError):
    """The tracking store cannot be reached or opened when a run starts."""


class MalformedArchiveError(DataError):
    """A downloaded archive is damaged or not laid out as its recipe expects.

    The message names the recipe, the archive and the reason, and says to delete the
    archive so the next run fetches it again.
    """


class DiskFullError(SeqpipeError):
    """A write failed because the disk is full or the user's quota spent; says which folder and what is kept."""


FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


def full_disk_cause(exc: BaseException | None) -> BaseException | None:
    """The exception in ``exc``'s chain that says the disk is full (``OSError`` ENOSPC or EDQUOT, or a library's
    error quoting the system's words for them, as h5py and TensorFlow do); None if none does."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in FULL_DISK:
            return exc
        if any(os.strerror(code) in str(exc) for code in FULL_DISK):
            return exc
        exc = exc.__cause__ if exc.__cause__ is not None or exc.__suppress_context__ else exc.__context__
    return None


def full_disk_error(exc: BaseException, run_dir: Path | None = None) -> DiskFullError | None:
    """The one-line error for a write that failed on a full disk (None when ``exc`` is something else): the folder
    it was writing, what to do, and what the run folder ``run_dir`` (when there is one) keeps."""
    cause = full_disk_cause(exc)
    if cause is None:
        return None
    code = getattr(cause, "errno", None)
    what = os.strerror(code).lower() if code in FULL_DISK else "no space left on device"
    filename = getattr(cause, "filename", None)
    folder = Path(os.fsdecode(filename)).parent if filename else run_dir
    where = f" while writing {folder}" if folder is not None else ""
    if run_dir is None:
        return DiskFullError(f"{what}{where}: free space on that disk, or write to another one, then run the command "
                             "again")
    checkpoint = run_dir / "checkpoints" / "last.json"
    kept = (f"{checkpoint.parent} keeps the last complete training checkpoint" if checkpoint.is_file()
            else f"no training checkpoint was written yet; the run folder is {run_dir}")
    return DiskFullError(f"{what}{where}: free space on that disk (or set output_dir to a folder on another one), "
                         f"then continue with --resume {run_dir}; nothing was lost: {kept}")


def printable(text: str) -> str:
    """``text`` with every non-printable character escaped (``\\n``, ``\\x85``, ``\\u2028``, ...), so that a
    problem that quotes the user's input stays one line on the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
