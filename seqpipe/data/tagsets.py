"""Map Brown corpus part-of-speech tags to the universal tagset (``data.source.tagset``).

The universal tagset of Petrov, Das & McDonald (2012, "A Universal Part-of-Speech
Tagset", LREC) has 12 tags: ``. ADJ ADP ADV CONJ DET NOUN NUM PRON PRT VERB X``.
Brown tags are mapped with the project's published table ``en-brown.map`` (the one
nltk's ``map_tag('brown', 'universal', tag)`` reads from nltk_data), which seqpipe
carries unchanged in ``tagmaps/brown-universal.tsv``; its header names the source and
licence (CC BY-SA 4.0).

A tag is looked up in the table first, exactly (so ``PPS+BEZ``, "it's", gives ``PRT``:
the table maps pronoun, noun and wh-word contractions with a verb to ``PRT``). A tag the
table lacks is mapped by rules: a ``FW-`` (foreign word) tag gives ``X``, as every
``FW-`` entry of the table does; trailing ``-TL`` (title), ``-HL`` (headline) and ``-NC``
(cited word) markers are stripped one at a time and the rest looked up (``NR-TL-HL`` ->
``NR`` -> ``NOUN``; the table maps every marked tag like its bare tag but ``JJ$-TL``);
a contraction ``A+B`` is mapped by its first part ``A``. Anything else gives ``X``,
nltk's default for a tag missing from the table.

Of the Brown corpus's 472 tags, 470 are in the table; ``NR-TL`` and ``NR-TL-HL``
(adverbial nouns in titles and headlines, 314 tokens) are not, so nltk maps them to
``X``. The rules map them to ``NOUN``, as the universal-pos-tags project's later fix of
the table does (nltk issue #928). The rules for contractions and unknown tags only
matter for tags outside the corpus.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

TAGSETS = ("original", "universal")
UNIVERSAL_TAGS = (".", "ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM", "PRON", "PRT", "VERB",
                  "X")
BROWN_UNIVERSAL = "tagmaps/brown-universal.tsv"  # inside this package
MARKERS = ("-TL", "-HL", "-NC")  # title, headline, cited word


@lru_cache(maxsize=None)
def brown_universal_table() -> dict[str, str]:
    """The published Brown -> universal table: ``{Brown tag: universal tag}``.

    Lines starting with ``#`` are comments; every other line is ``TAG<tab>UNIVERSAL``.
    Raises ValueError for a malformed line, a tag listed twice or an unknown universal tag.
    """
    text = resources.files(__package__).joinpath(BROWN_UNIVERSAL).read_text(encoding="utf-8")
    table: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        fine, sep, coarse = line.partition("\t")
        if not sep or not fine or coarse not in UNIVERSAL_TAGS or fine in table:
            raise ValueError(f"{BROWN_UNIVERSAL} line {number}: bad entry {line!r}")
        table[fine] = coarse
    return table


def universal_tag(tag: str) -> str:
    """The universal tag for one Brown tag (upper case, as the ``brown`` recipe stores it)."""
    return _universal(tag)


@lru_cache(maxsize=4096)
def _universal(tag: str) -> str:
    table = brown_universal_table()
    if tag in table:
        return table[tag]
    if tag.startswith("FW-"):
        return "X"  # as every FW- entry of the table
    base = tag
    while base.endswith(MARKERS):
        base = base[:-3]
        if base in table:
            return table[base]
    first = base.split("+", 1)[0]
    if first != base and first:
        return _universal(first)
    return "X"


def map_tags(tags: list[str], tagset: str) -> list[str]:
    """Map each of ``tags`` (one sentence's tags joined by single spaces) to ``tagset``.

    ``original`` returns the strings unchanged; ``universal`` maps every Brown tag with
    :func:`universal_tag` and joins the results with single spaces.
    """
    if tagset == "original":
        return list(tags)
    if tagset != "universal":
        raise ValueError(f"unknown tagset {tagset!r}; expected one of {', '.join(TAGSETS)}")
    return [" ".join(_universal(tag) for tag in sentence.split()) for sentence in tags]
