"""The arith-trees recipe: deterministic by seed, balanced over depths, labels are the values mod 10."""

from __future__ import annotations

from collections import Counter

import pytest

from seqpipe.data.recipes.arith_trees import ArithTrees, ArithTreesOptions
from seqpipe.text.trees import parse_tree


def value(node) -> int:
    if node.leaf:
        return int(node.label)
    a, b = (value(c) for c in node.children)
    return {"+": a + b, "-": a - b, "*": a * b}[node.label]


def test_same_options_same_table_and_the_seed_changes_it():
    options = ArithTreesOptions(max_depth=4, examples=200, seed=3)
    assert ArithTrees().generate(options) == ArithTrees().generate(ArithTreesOptions(max_depth=4, examples=200, seed=3))
    assert ArithTrees().generate(options) != ArithTrees().generate(ArithTreesOptions(max_depth=4, examples=200, seed=4))


def test_depths_are_balanced_and_labels_are_values_mod_10():
    rows = ArithTrees().generate(ArithTreesOptions(max_depth=5, min_depth=0, examples=600, seed=0))
    assert Counter(depth for _, _, depth, _ in rows) == {str(d): 100 for d in range(6)}
    for text, label, depth, flat in rows:
        tree = parse_tree(text)
        assert tree.height() == int(depth) and tree.arity() <= 2
        assert int(label) == value(tree) % 10
        assert eval(flat) % 10 == int(label)  # the infix form is the same expression
    assert len({label for _, label, _, _ in rows}) == 10


def test_options_are_checked():
    with pytest.raises(ValueError, match="min_depth 4 is above max_depth 2"):
        ArithTreesOptions(max_depth=2, min_depth=4)
