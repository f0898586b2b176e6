"""Bracketed trees: ``(+ (* 3 4) 2)`` or Penn-style ``(S (NP the cat) (VP sat))``.

A tree is a leaf (one token) or ``( label child child ... )``: an open bracket, the node's label (the operator
or phrase tag), its children (leaves or trees) and a close bracket. A node whose first item is a subtree has
no label (``((a b) c)``). Tokens are separated by whitespace; brackets need no spaces around them.

The ``tree`` tokenizer (:class:`seqpipe.text.kinds.TreeTokenizer`) keeps the brackets as tokens, so a tree's
token ids are its bracketed token sequence and :class:`seqpipe.layers.recursive.RecursiveEncoder` recovers the
structure from them inside the graph (an exported model takes the raw bracketed string). This module is the
plain-Python side (no TensorFlow): :func:`parse_tree` with one-line errors for the data checks, and
:func:`encode_trees`, the batchable arrays of a list of trees (node token ids, children index matrix, node
level = height), which the recursive encoder computes the same way in the graph and the tests compare with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

OPEN, CLOSE = "(", ")"
TOKEN = re.compile(r"[()]|[^\s()]+")


class TreeError(ValueError):
    """A string that is not one well-formed bracketed tree (the message says where and why)."""


@dataclass
class Node:
    """A tree node: a leaf (``children`` empty, ``leaf`` True) or an internal node with its label."""

    label: str | None  # the leaf's token, or the internal node's label (None when unlabelled)
    children: list[Node] = field(default_factory=list)
    leaf: bool = False

    def height(self) -> int:
        return 1 + max(c.height() for c in self.children) if self.children else 0

    def arity(self) -> int:
        """The largest number of children of any node."""
        return max([len(self.children)] + [c.arity() for c in self.children])

    def postorder(self) -> list[Node]:
        """Every node, children before their parent, left to right (the root last)."""
        out: list[Node] = []
        stack: list[tuple[Node, bool]] = [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                out.append(node)
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(node.children))
        return out

    def tokens(self) -> list[str]:
        """The bracketed token sequence (what the ``tree`` tokenizer gives)."""
        if self.leaf:
            return [self.label]
        head = [OPEN] + ([self.label] if self.label is not None else [])
        return head + [t for c in self.children for t in c.tokens()] + [CLOSE]

    def __str__(self) -> str:
        return " ".join(self.tokens()).replace("( ", "(").replace(" )", ")")


def tokens_of(text: str) -> list[str]:
    """Brackets and whitespace-separated tokens, in order."""
    return TOKEN.findall(text)


def parse_tree(text: str, lowercase: bool = False) -> Node:
    """The tree in ``text``; :class:`TreeError` with a one-line reason unless it is exactly one well-formed tree."""
    tokens = tokens_of(text.lower() if lowercase else text)
    if not tokens:
        raise TreeError("empty text; expected a tree such as (+ 3 4) or a single token")
    stack: list[Node] = []
    root: Node | None = None
    for position, token in enumerate(tokens, 1):
        if root is not None:
            raise TreeError(f"token {position} {token!r} follows the end of the tree; expected one tree "
                            "(put several under one node)")
        if token == OPEN:
            stack.append(Node(None))
            stack[-1].label = _UNSET
        elif token == CLOSE:
            if not stack:
                raise TreeError(f"unbalanced brackets: ')' (token {position}) closes nothing")
            node = stack.pop()
            if node.label is _UNSET:
                raise TreeError(f"empty node '()' at token {position}; expected a label or children")
            if stack:
                _add(stack[-1], node)
            else:
                root = node
        else:
            leaf = Node(token, leaf=True)
            if not stack:
                root = leaf
            elif stack[-1].label is _UNSET:
                stack[-1].label = token
            else:
                stack[-1].children.append(leaf)
    if stack:
        raise TreeError(f"unbalanced brackets: {len(stack)} '(' never closed")
    return root


_UNSET = object()  # an open node whose label is not read yet


def _add(parent: Node, child: Node) -> None:
    if parent.label is _UNSET:  # the first item is a subtree: the parent has no label
        parent.label = None
    parent.children.append(child)


def encode_trees(trees: list[Node], vocabulary: dict[str, int], max_arity: int, unk: int = 1) -> dict:
    """The arrays a Keras model batches, nodes in post-order (children first, root last), padded.

    Returns ``ids`` (batch, nodes) int32, the node's token (the leaf, or the internal node's label; 0 for
    padding and for unlabelled nodes); ``children`` (batch, nodes, max_arity) int32, each node's children as
    node indices, -1 where there is none; ``level`` (batch, nodes) int32, the node's height (leaves 0; -1 for
    padding); ``length`` (batch,) the number of nodes. A node with more than ``max_arity`` children is a
    ValueError.
    """
    import numpy as np

    orders = [t.postorder() for t in trees]
    width = max((len(o) for o in orders), default=0)
    ids = np.zeros((len(trees), width), "int32")
    children = np.full((len(trees), width, max_arity), -1, "int32")
    level = np.full((len(trees), width), -1, "int32")
    for b, order in enumerate(orders):
        index = {id(node): k for k, node in enumerate(order)}
        for k, node in enumerate(order):
            if len(node.children) > max_arity:
                raise ValueError(f"tree {b}: a node has {len(node.children)} children; max_arity is {max_arity}")
            ids[b, k] = vocabulary.get(OPEN if node.label is None else node.label, unk)
            level[b, k] = node.height()
            for j, child in enumerate(node.children):
                children[b, k, j] = index[id(child)]
    return {"ids": ids, "children": children, "level": level,
            "length": np.array([len(o) for o in orders], "int32")}
