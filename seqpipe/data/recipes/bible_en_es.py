"""``bible-en-es``: KJV / Reina-Valera 1909 verse pairs from Debian's SWORD modules."""

from __future__ import annotations

import re
import zlib
from collections import Counter
from pathlib import Path
from typing import Iterator

from seqpipe.data.recipes import DATASETS
from seqpipe.data.recipes.base import Recipe
from seqpipe.data.recipes.fetch import apt_install
from seqpipe.data.recipes.storage import reason
from seqpipe.errors import DataError

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
    description = DATASETS.describe(name)
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
        try:  # what pysword raises for a missing or damaged module
            source, target = self.open_bibles(archive)
            verses = [(source.get(**ref), target.get(**ref)) for ref in self.references(source)]
        except (OSError, KeyError, ValueError, zlib.error) as exc:
            raise DataError(
                f"{self.name}: could not read the SWORD modules in {archive} ({reason(exc)}); "
                f"reinstall them as root: apt-get install -y --reinstall {' '.join(self.packages)}"
            ) from None
        pairs = [(_clean_verse(source), _clean_verse(target)) for source, target in verses]
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
