"""``copy`` and ``reverse``: recall K symbols after a delay, one output per input step (generated).

The copy (memory) problem of Hochreiter & Schmidhuber (1997), in the layout of Arjovsky, Shah &
Bengio (2016): the input is K random symbols from an alphabet of A (tokens ``s0`` .. ``s{A-1}``),
then ``delay`` blanks ``_``, then the delimiter ``:`` and K more blanks. Every input step has one
output tag: ``_`` everywhere except the last K steps, whose tags are the K symbols in order.
``reverse`` is the same layout with the symbols recalled in reverse order (``delay`` 0 by default).

The rows are whitespace-separated ``tokens`` and as many ``tags``, so a recurrent tagger must hold
the symbols in its state: no attention or decoder can look back. Scored on the K recall steps
(leave the blank tags out of the scores), always guessing one symbol is right 1 / A of the time.

Variable lengths (the copy task of Graves et al. 2014, "Neural Turing Machines"): with ``min_symbols``
every sequence draws its K uniformly from ``min_symbols..symbols``; with ``test_max_symbols`` the
table also holds a fixed ``test`` split of ``test_examples`` sequences whose K is drawn from
``min_symbols..test_max_symbols`` (longer than any training sequence, to measure generalisation), and
``valid`` is carved from the training sequences by ``data.split``. Every row has a ``length`` column
(its K; ``evaluate.by: length`` scores each length apart) and a ``split`` column (read only when the
split is fixed).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from seqpipe.data.recipes import DATASETS
from seqpipe.data.recipes.base import SPLIT_COLUMN, GeneratedRecipe
from seqpipe.schema import Schema

BLANK, DELIMITER = "_", ":"


class CopyOptions(Schema):
    """Parameters of the copy problem (``data.source.options``)."""

    symbols: int = Field(10, ge=1, le=10_000, description="symbols to recall (K)")
    alphabet: int = Field(8, ge=2, le=10_000, description="distinct symbols (A); chance accuracy is 1 / A")
    delay: int = Field(50, ge=0, le=100_000, description="blanks between the symbols and the delimiter (T)")
    examples: int = Field(20_000, ge=1, le=10_000_000, description="sequences generated")
    seed: int = Field(0, ge=0, description="generator seed: the same options give the same table")
    min_symbols: int | None = Field(None, ge=1, le=10_000, description="variable lengths: each sequence draws its "
                                                                      "K uniformly from min_symbols..symbols; "
                                                                      "null: every sequence has symbols")
    test_max_symbols: int | None = Field(None, ge=1, le=10_000, description="also generate a fixed test split whose "
                                                                           "K is drawn from min_symbols.."
                                                                           "test_max_symbols (e.g. 4 x symbols); "
                                                                           "null: none (data.split carves test)")
    test_examples: int = Field(1000, ge=1, le=10_000_000, description="sequences of the fixed test split "
                                                                      "(with test_max_symbols)")

    @model_validator(mode="after")
    def _ranges(self):
        if self.min_symbols is not None and self.min_symbols > self.symbols:
            raise ValueError(f"min_symbols ({self.min_symbols}) must be at most symbols ({self.symbols})")
        if self.test_max_symbols is not None and self.test_max_symbols < (self.min_symbols or self.symbols):
            raise ValueError(f"test_max_symbols ({self.test_max_symbols}) must be at least min_symbols "
                             f"({self.min_symbols or self.symbols})")
        return self


class ReverseOptions(CopyOptions):
    """Parameters of the reverse problem (``data.source.options``)."""

    delay: int = Field(0, ge=0, le=100_000, description="blanks between the symbols and the delimiter")


class Copy(GeneratedRecipe):
    """K symbols, ``delay`` blanks, a delimiter, K blanks; the tags of the last K steps are the symbols."""

    name = "copy"
    description = DATASETS.describe(name)
    roles = ("tokens", "tags", "length", SPLIT_COLUMN)
    Options = CopyOptions
    reverse: ClassVar[bool] = False
    version = 2  # the length and split columns

    @classmethod
    def splits_for(cls, options) -> tuple[str, ...]:
        """``("train", "test")`` with ``test_max_symbols`` (a fixed test split of longer sequences), else none."""
        try:
            parsed = cls.parse_options(options)
        except ValueError:  # bad options are reported where they are validated
            return ()
        return ("train", "test") if parsed.test_max_symbols is not None else ()

    def rows_for(self, options: CopyOptions) -> int:
        return options.examples + (options.test_examples if options.test_max_symbols is not None else 0)

    def generate(self, options: CopyOptions) -> list[tuple[str, str, str, str]]:
        """One ``(tokens, tags, length, split)`` row per sequence (see the module docstring)."""
        import numpy as np

        rng = np.random.default_rng(options.seed)
        names = [f"s{i}" for i in range(options.alphabet)]
        if options.min_symbols is None and options.test_max_symbols is None:  # the fixed-length draws of version 1
            symbols = rng.integers(0, options.alphabet, size=(options.examples, options.symbols))
            return [self.row([names[i] for i in draw], options.delay, "train") for draw in symbols]
        low = options.min_symbols or options.symbols
        plan = [(options.examples, options.symbols, "train")]
        if options.test_max_symbols is not None:
            plan.append((options.test_examples, options.test_max_symbols, "test"))
        rows = []
        for count, high, split in plan:
            lengths = rng.integers(low, high + 1, size=count)
            for k in lengths:
                rows.append(self.row([names[i] for i in rng.integers(0, options.alphabet, size=int(k))],
                                     options.delay, split))
        return rows

    def row(self, said: list[str], delay: int, split: str) -> tuple[str, str, str, str]:
        """``(tokens, tags, length, split)`` of one sequence of the symbols ``said``."""
        k = len(said)
        wait = " ".join([BLANK] * delay + [DELIMITER] + [BLANK] * k)
        quiet = " ".join([BLANK] * (k + delay + 1))
        recalled = said[::-1] if self.reverse else said
        return " ".join(said) + " " + wait, quiet + " " + " ".join(recalled), str(k), split


class Reverse(Copy):
    """K symbols, ``delay`` blanks, a delimiter, K blanks; the tags of the last K steps are the symbols reversed."""

    name = "reverse"
    description = DATASETS.describe(name)
    Options = ReverseOptions
    reverse = True
