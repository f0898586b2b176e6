"""``arith-trees``: nested arithmetic expressions as bracketed trees, generated (issue 14; Goodfellow et al. 10.6).

Each example is one expression over the digits 0-9 with the binary operators ``+``, ``-`` and ``*``, written as a
bracketed prefix tree, ``(+ (* 3 4) 2)``; its label is the expression's value mod 10 (``4``; Python's ``%``, so
always 0-9). The ``depth`` column is the tree's height (the number of operators on the longest path from the
root to a digit: ``(+ (* 3 4) 2)`` has depth 2); ``evaluate.by: depth`` scores each depth apart. The ``flat``
column is the same expression in fully bracketed infix with spaces, ``( ( 3 * 4 ) + 2 )``, for sequence
models that prefer it (a recurrent baseline can also read ``text`` with ``tokenize.kind: tree``).

Depths are balanced: example ``i`` has depth ``min_depth + i mod (max_depth - min_depth + 1)``. A tree of depth
``d`` has an operator at the root, one child (left or right at random) of depth ``d - 1`` and the other of a
depth drawn uniformly from 0 .. d - 1, so the longest branch is ``d`` deep and the trees are irregular. Everything
is drawn from ``numpy.random.default_rng(seed)``: the same options give the same table.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from seqpipe.data.recipes import DATASETS
from seqpipe.data.recipes.base import GeneratedRecipe
from seqpipe.schema import Schema

OPERATORS = ("+", "-", "*")


class ArithTreesOptions(Schema):
    """Parameters of the arithmetic trees (``data.source.options``)."""

    max_depth: int = Field(6, ge=0, le=12, description="the deepest trees (operators on the longest branch)")
    min_depth: int = Field(1, ge=0, le=12, description="the shallowest trees (0: single digits)")
    examples: int = Field(20_000, ge=1, le=10_000_000, description="expressions generated, balanced over the depths")
    seed: int = Field(0, ge=0, description="generator seed: the same options give the same table")

    @model_validator(mode="after")
    def _range(self) -> ArithTreesOptions:
        if self.min_depth > self.max_depth:
            raise ValueError(f"min_depth {self.min_depth} is above max_depth {self.max_depth}")
        return self


class ArithTrees(GeneratedRecipe):
    """Expressions such as ``(+ (* 3 4) 2)``; label: the value mod 10; columns depth and flat (infix)."""

    name = "arith-trees"
    description = DATASETS.describe(name)
    roles = ("text", "label", "depth", "flat")
    Options = ArithTreesOptions

    def generate(self, options: ArithTreesOptions) -> list[tuple[str, str, str, str]]:
        import numpy as np

        rng = np.random.default_rng(options.seed)
        span = options.max_depth - options.min_depth + 1
        rows = []
        for i in range(options.examples):
            depth = options.min_depth + i % span
            prefix, infix, value = expression(rng, depth)
            rows.append((prefix, str(value % 10), str(depth), infix))
        return rows


def expression(rng, depth: int) -> tuple[str, str, int]:
    """(prefix tree, spaced infix, value) of a random expression whose longest branch has ``depth`` operators."""
    if depth == 0:
        digit = int(rng.integers(10))
        return str(digit), str(digit), digit
    op = OPERATORS[int(rng.integers(3))]
    other = int(rng.integers(depth))
    heights = (depth - 1, other) if rng.integers(2) == 0 else (other, depth - 1)
    (lp, li, lv), (rp, ri, rv) = (expression(rng, h) for h in heights)
    value = lv + rv if op == "+" else lv - rv if op == "-" else lv * rv
    return f"({op} {lp} {rp})", f"( {li} {op} {ri} )", value % 10
