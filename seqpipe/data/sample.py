"""The seeded, bounded sample of the training split that vocabularies are built from (``tokenize.sample_lines``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def training_sample(train, limit: int, seed: int) -> tuple[pd.DataFrame, int]:
    """At most ``limit`` rows of the training split, drawn with ``seed``, and the number of rows drawn from.

    An in-memory split (a DataFrame) longer than ``limit`` gives a seeded random sample of its rows (in file
    order); a streamed split (:class:`seqpipe.data.stream.StreamedSplit`) a uniform reservoir sample read through
    its files, so the memory a vocabulary needs does not grow with the corpus.
    """
    import pandas as pd

    if isinstance(train, pd.DataFrame):
        if len(train) <= limit:
            return train, len(train)
        return train.sample(n=limit, random_state=seed).sort_index(), len(train)
    rows, seen = train.sample(limit)
    return pd.DataFrame(rows, columns=list(train.roles)), seen
