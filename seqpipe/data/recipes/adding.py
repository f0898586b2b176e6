"""``adding``: the adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015), generated.

Each example is a sequence of ``length`` steps. A step holds a value drawn uniformly from [0, 1)
and a marker; exactly two steps are marked, the first in the first half of the sequence and the
second in the second half. The target is the sum of the two marked values, so a model must carry
the first one across up to ``length`` steps.

seqpipe's inputs are text, so each step is one token carrying the value quantised to ``levels``
bins and the marker: ``v37`` is an unmarked step in bin 37, ``m37`` a marked one (a vocabulary of
2 x levels tokens). The target is the sum of the two marked bins' centres, ``(b1 + b2 + 1) / levels``,
so the task is exactly learnable from the tokens. Its mean is 1 and its variance
``(levels**2 - 1) / (6 * levels**2)`` (about 1/6): always predicting 1.0 scores a mean squared error
of about 0.167, the baseline to beat.
"""

from __future__ import annotations

from pydantic import Field

from seqpipe.data.recipes import DATASETS
from seqpipe.data.recipes.base import GeneratedRecipe
from seqpipe.schema import Schema


class AddingOptions(Schema):
    """Parameters of the adding problem (``data.source.options``)."""

    length: int = Field(50, ge=2, le=100_000, description="steps per sequence (T)")
    examples: int = Field(20_000, ge=1, le=10_000_000, description="sequences generated")
    levels: int = Field(100, ge=2, le=100_000, description="bins each value is quantised to "
                                                           "(vocabulary: 2 x levels tokens)")
    seed: int = Field(0, ge=0, description="generator seed: the same options give the same table")


class Adding(GeneratedRecipe):
    """The adding problem: T tokens ``v<bin>`` / ``m<bin>``, two marked; the target is their values' sum."""

    name = "adding"
    description = DATASETS.describe(name)
    roles = ("text", "target")
    Options = AddingOptions

    def generate(self, options: AddingOptions) -> list[tuple[str, str]]:
        """One ``(text, target)`` row per sequence (see the module docstring)."""
        import numpy as np

        rng = np.random.default_rng(options.seed)
        n, length, levels = options.examples, options.length, options.levels
        bins = rng.integers(0, levels, size=(n, length))
        half = length // 2
        first = rng.integers(0, half, size=n)
        second = rng.integers(half, length, size=n)
        rows = np.arange(n)
        marked = np.zeros((n, length), dtype=bool)
        marked[rows, first] = marked[rows, second] = True
        words = np.array([f"v{b}" for b in range(levels)] + [f"m{b}" for b in range(levels)], dtype=object)
        tokens = words[bins + levels * marked]
        sums = bins[rows, first] + bins[rows, second]
        return [(" ".join(line), repr((int(total) + 1) / levels)) for line, total in zip(tokens, sums)]
