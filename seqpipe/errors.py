"""Errors that reach the user as one line each, and the exit codes they map to.

Exit codes follow pre-commit's convention: 2 for bad input (config, data, usage),
3 for a bug in seqpipe, 130 when interrupted; 4 says a run finished with warnings
(every result computed and kept, but tracking could not record something).
"""

from __future__ import annotations

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


def printable(text: str) -> str:
    """``text`` with every non-printable character escaped (``\\n``, ``\\x85``, ``\\u2028``, ...), so that a
    problem that quotes the user's input stays one line on the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
