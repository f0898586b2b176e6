"""Bracketed trees: the Python parser, its one-line errors, and the tree tokenizer."""

from __future__ import annotations

import pytest
import tensorflow as tf

from seqpipe.text.encoder import TextEncoder
from seqpipe.text.kinds import TreeTokenizer
from seqpipe.text.trees import TreeError, encode_trees, parse_tree


def test_parse_arithmetic_and_penn_trees():
    tree = parse_tree("(+ (* 3 4) 2)")
    assert tree.label == "+" and [c.label for c in tree.children] == ["*", "2"]
    assert tree.height() == 2 and tree.arity() == 2
    assert [n.label for n in tree.postorder()] == ["3", "4", "*", "2", "+"]
    penn = parse_tree("(S (NP the cat)(VP sat))")
    assert str(penn) == "(S (NP the cat) (VP sat))"
    assert parse_tree("7").leaf and parse_tree("((a b) c)").label is None


@pytest.mark.parametrize("text, message", [
    ("(+ 3 4", "unbalanced brackets: 1 '(' never closed"),
    ("(+ 3 4))", "follows the end of the tree"),
    (") 3", "closes nothing"),
    ("()", "empty node"),
    ("   ", "empty text"),
    ("3 4", "follows the end of the tree"),
])
def test_malformed_trees_are_one_line_errors(text, message):
    with pytest.raises(TreeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_tree(text)


def test_tree_tokenizer_keeps_brackets_at_fixed_ids_and_checks_length():
    texts = ["(+ (* 3 4) 2)", "(S (NP the cat) (VP sat))"]
    kind = TreeTokenizer(None, True)
    vocabulary = kind.build_vocabulary(texts * 3, 20, 1)
    assert vocabulary[4:6] == ["(", ")"]
    encoder = TextEncoder("tree", vocabulary, 32)
    assert encoder.tokens(tf.constant(["(+(* 3 4)2)"])).to_list() == [
        [b"(", b"+", b"(", b"*", b"3", b"4", b")", b"2", b")"]]
    assert encoder.detokenize(encoder(tf.constant(texts[:1]))).numpy()[0] == b"(+ (* 3 4) 2)"
    assert TreeTokenizer.problem("(+ 3 4", True, 64).startswith("unbalanced")
    assert "max_length is 4" in TreeTokenizer.problem("(+ 3 4)", True, 4)
    assert TreeTokenizer.problem("(+ 3 4)", True, 5) is None


def test_encode_trees_arrays():
    arrays = encode_trees([parse_tree("(+ (* 3 4) 2)"), parse_tree("7")],
                          {"+": 6, "*": 7, "3": 8, "4": 9, "2": 10, "7": 11}, max_arity=2)
    assert arrays["ids"].tolist() == [[8, 9, 7, 10, 6], [11, 0, 0, 0, 0]]
    assert arrays["children"][0].tolist() == [[-1, -1], [-1, -1], [0, 1], [-1, -1], [2, 3]]
    assert arrays["level"].tolist() == [[0, 0, 1, 0, 2], [0, -1, -1, -1, -1]]
    with pytest.raises(ValueError, match="3 children"):
        encode_trees([parse_tree("(+ 1 2 3)")], {}, max_arity=2)
