"""RecursiveEncoder: the in-graph tree structure equals the Python parse, and the batched level-by-level
composition equals a per-tree recursive evaluation in numpy, for every composition."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqpipe.layers.pooling import MaskedPooling
from seqpipe.layers.recursive import COMPOSITIONS, RecursiveEncoder, tree_structure
from seqpipe.text.encoder import TextEncoder
from seqpipe.text.kinds import TreeTokenizer
from seqpipe.text.trees import Node, encode_trees, parse_tree

LABELS = ["+", "-", "*", "NP", "VP"]
WORDS = [str(d) for d in range(10)] + ["the", "cat"]


def random_tree(rng, depth: int, max_arity: int) -> Node:
    if depth == 0 or rng.random() < 0.25:
        return Node(str(rng.choice(WORDS)), leaf=True)
    children = [random_tree(rng, depth - 1, max_arity) for _ in range(int(rng.integers(1, max_arity + 1)))]
    label = None if rng.random() < 0.1 else str(rng.choice(LABELS))
    return Node(label, children)


def random_texts(seed: int, n: int = 12, depth: int = 4, max_arity: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)
    return [str(random_tree(rng, int(rng.integers(0, depth + 1)), max_arity)) for _ in range(n)]


def tree_encoder(texts):
    vocabulary = TreeTokenizer(None, False).build_vocabulary(texts + WORDS + LABELS, 100, 1)
    return TextEncoder("tree", vocabulary, 200, lowercase=False)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_structure_in_the_graph_equals_the_python_parse(seed):
    texts = random_texts(seed)
    encoder = tree_encoder(texts)
    ids = encoder(tf.constant(texts))
    x_index, children, level, count = (t.numpy() for t in tree_structure(ids, 4, 5, 3))
    index = {t: i for i, t in enumerate(encoder.vocabulary)}
    ref = encode_trees([parse_tree(t) for t in texts], index, 3)
    node_ids = np.take_along_axis(ids.numpy(), x_index, axis=1)
    np.testing.assert_array_equal(count, ref["length"])
    for b, n in enumerate(ref["length"]):
        np.testing.assert_array_equal(node_ids[b, :n], ref["ids"][b, :n])
        np.testing.assert_array_equal(children[b, :n], ref["children"][b, :n])
        np.testing.assert_array_equal(level[b, :n], ref["level"][b, :n])
        assert (level[b, n:] == -1).all()


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def reference(layer, node: Node, embed, index):
    """(h, c) of ``node``, recursively, with the layer's weights (numpy, float64)."""
    w = {v.name: np.asarray(v.numpy(), "float64") for v in layer.weights}
    units, arity = layer.units, layer.max_arity
    kids = [reference(layer, c, embed, index) for c in node.children]
    hs = np.zeros((arity, units))
    cs = np.zeros((arity, units))
    for k, (h, c) in enumerate(kids):
        hs[k], cs[k] = h, c
    x = embed[index["(" if node.label is None else node.label]]
    if layer.composition == "tanh":
        return np.tanh(hs.reshape(-1) @ w["child_kernel"] + x @ w["input_kernel"] + w["bias"]), np.zeros(units)
    if layer.composition == "treelstm":
        wx = x @ w["input_kernel"] + w["bias"]
        i, o, u = np.split(wx[: 3 * units] + hs.sum(0) @ w["child_kernel"], 3)
        f = sigmoid(wx[3 * units:] + hs @ w["forget_kernel"])  # one row per child
    else:
        g = x @ w["input_kernel"] + hs.reshape(-1) @ w["child_kernel"] + w["bias"]
        i, o, u = np.split(g[: 3 * units], 3)
        f = sigmoid(g[3 * units:].reshape(arity, units))
    c = sigmoid(i) * np.tanh(u) + (f * cs).sum(0)
    return sigmoid(o) * np.tanh(c), c


@pytest.mark.parametrize("composition", COMPOSITIONS)
def test_batched_composition_equals_per_tree_recursion(composition):
    texts = random_texts(7, n=10)
    encoder = tree_encoder(texts)
    ids = encoder(tf.constant(texts))
    embed = np.random.default_rng(3).normal(size=(encoder.vocabulary_size, 4)).astype("float32")
    layer = RecursiveEncoder(5, composition, max_arity=3)
    out = layer(ids, tf.gather(embed, ids))
    rng = np.random.default_rng(4)
    layer.set_weights([0.5 * rng.standard_normal(w.shape).astype("float32") for w in layer.get_weights()])
    out = layer(ids, tf.gather(embed, ids)).numpy()
    mask = layer.compute_mask(ids).numpy()
    index = {t: i for i, t in enumerate(encoder.vocabulary)}
    for b, text in enumerate(texts):
        tree = parse_tree(text)
        nodes = tree.postorder()
        assert mask[b].sum() == len(nodes)
        for k, node in enumerate(nodes):  # every node's state, not only the root's
            np.testing.assert_allclose(out[b, k], reference(layer, node, embed, index)[0], atol=1e-5)
        assert not out[b, len(nodes):].any()


def test_last_pooling_reads_the_root_and_the_model_saves(tmp_path):
    texts = ["(+ (* 3 4) 2)", "7", "(- 1 (+ 2 (* 3 4)))"]
    encoder = tree_encoder(texts)
    ids_in = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(encoder.vocabulary_size, 4, mask_zero=True)(ids_in)
    nodes = RecursiveEncoder(3, "nary_treelstm", name="tree")(ids_in, x)
    model = keras.Model(ids_in, [MaskedPooling("last")(nodes), nodes])
    ids = encoder(tf.constant(texts))
    root, states = (t.numpy() for t in model(ids))
    counts = [len(parse_tree(t).postorder()) for t in texts]
    np.testing.assert_allclose(root, states[np.arange(3), np.array(counts) - 1], atol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded(ids)[0].numpy(), root, atol=1e-6)
    assert loaded.get_layer("tree").get_config() == model.get_layer("tree").get_config()
