"""Recursive networks over trees (Goodfellow, Bengio & Courville 2016, section 10.6; Tai, Socher & Manning 2015).

:class:`RecursiveEncoder` reads the token ids of bracketed trees (the ``tree`` tokenizer keeps ``(`` and ``)`` as
tokens, see :mod:`seqpipe.text.trees`) and the embedded tokens, recovers each tree's structure inside the graph
(:func:`tree_structure`) and composes node states bottom-up, batched by level: level ``k`` holds the nodes of
height ``k`` (leaves 0) of every tree in the batch, and one step of a ``tf.while_loop`` gathers the children
states of all of them, composes them in one matrix operation and scatters the new states back.

Compositions (``x`` is the node's input: a leaf's token, an internal node's label; ``h_1..h_A`` its children's
states, zero where a node has fewer than ``A = max_arity`` children):

- ``tanh``: ``h = tanh(W [h_1; ...; h_A; x] + b)`` (the recursive network of Goodfellow et al. 10.6).
- ``treelstm``: the Child-Sum TreeLSTM (Tai et al. 2015, eq. 2-8): ``h~ = sum_k h_k``;
  ``i, o, u = sigma, sigma, tanh(W x + U h~ + b)``; ``f_k = sigma(W_f x + U_f h_k + b_f)`` per child;
  ``c = i * u + sum_k f_k * c_k``; ``h = o * tanh(c)``.
- ``nary_treelstm``: the N-ary TreeLSTM (Tai et al. 2015, eq. 9-14): every gate reads the children in order,
  ``U [h_1; ...; h_A]``, and child ``k``'s forget gate ``f_k`` has its own rows (``U^f_{k l}``).

The output is the sequence of node states in post-order (children before parents, left to right), padded to
the input length, with a Keras mask over the real nodes: the root is the last real step, so
``MaskedPooling('last')`` reads the root and ``max``/``mean``/``attention`` pool over every node.
"""

from __future__ import annotations

import keras
import tensorflow as tf

COMPOSITIONS = ("tanh", "treelstm", "nary_treelstm")


def _node_flags(ids, open_id: int, close_id: int):
    ids = tf.cast(ids, tf.int32)
    is_open, is_close = tf.equal(ids, open_id), tf.equal(ids, close_id)
    token = tf.not_equal(ids, 0) & ~is_open & ~is_close
    after_open = tf.pad(is_open[:, :-1], [[0, 0], [1, 0]])
    is_leaf = token & ~after_open  # a token right after '(' is that node's label
    return is_open, is_close, is_leaf, is_leaf | is_close


def node_count(ids, open_id: int, close_id: int):
    """Nodes per example (leaves and internal nodes), int32 ``(batch,)``."""
    return tf.reduce_sum(tf.cast(_node_flags(ids, open_id, close_id)[3], tf.int32), axis=1)


def tree_structure(ids, open_id: int, close_id: int, max_arity: int):
    """The structure of bracketed trees from their token ids ``(batch, length)`` (0 is padding).

    A node is a leaf token or a close bracket (an internal node sits at its ``)``); nodes are numbered in
    that order, which is post-order. Returns ``(x_index, children, level, count)``: ``x_index`` (batch,
    length) the token position of each node's input (the leaf itself; the token after the node's ``(``, its
    label); ``children`` (batch, length, max_arity) each node's children as node numbers, -1 for none;
    ``level`` (batch, length) the node's height (leaves 0; -1 past the nodes); ``count`` (batch,) the
    number of nodes. Children past ``max_arity`` are dropped (the data checks refuse such trees). Pairwise
    comparisons of positions make it O(length^2) per tree, no loop.
    """
    ids = tf.cast(ids, tf.int32)
    batch, length = tf.shape(ids)[0], tf.shape(ids)[1]
    is_open, is_close, _, is_node = _node_flags(ids, open_id, close_id)
    depth = tf.cumsum(tf.cast(is_open, tf.int32) - tf.cast(is_close, tf.int32), axis=1)  # after each token
    pos = tf.range(length)
    row, col = pos[None, :, None], pos[None, None, :]  # [b, p, q]: p the node, q the other position
    d_p, d_q = depth[:, :, None], depth[:, None, :]
    # parent of node p: the first ')' after p that brings the depth back to depth(p) - 1
    up = (col > row) & is_close[:, None, :] & tf.equal(d_q, d_p - 1) & is_node[:, :, None]
    has_parent = tf.reduce_any(up, axis=2)
    parent = tf.argmax(tf.cast(up, tf.int32), axis=2, output_type=tf.int32)
    # the '(' of each ')': the last '(' before it whose depth (before it) equals the node's depth
    down = (col < row) & is_open[:, None, :] & tf.equal(d_q - 1, d_p) & is_close[:, :, None]
    opener = (length - 1) - tf.argmax(tf.cast(down[:, :, ::-1], tf.int32), axis=2, output_type=tf.int32)
    opener = tf.where(tf.reduce_any(down, axis=2), opener, pos[None, :])
    x_pos = tf.minimum(tf.where(is_close, opener + 1, pos[None, :]), length - 1)
    # height of ')': the deepest node strictly inside its brackets, relative to it; leaves 0
    inside = (col > opener[:, :, None]) & (col < row) & is_node[:, None, :] & is_close[:, :, None]
    height = tf.reduce_max(tf.where(inside, d_q - d_p, 0), axis=2)
    # a child's slot: how many earlier nodes share its parent
    siblings = (col < row) & tf.equal(parent[:, :, None], parent[:, None, :]) & has_parent[:, None, :] \
        & is_node[:, None, :]
    slot = tf.reduce_sum(tf.cast(siblings, tf.int32), axis=2)
    rank = tf.cumsum(tf.cast(is_node, tf.int32), axis=1) - 1  # a node's number
    count = tf.reduce_sum(tf.cast(is_node, tf.int32), axis=1)

    at = tf.cast(tf.where(is_node), tf.int32)  # (nodes in the batch, 2): [b, p]
    target = tf.stack([at[:, 0], tf.gather_nd(rank, at)], axis=1)
    x_index = tf.scatter_nd(target, tf.gather_nd(x_pos, at), [batch, length])
    level = tf.tensor_scatter_nd_update(tf.fill([batch, length], -1), target, tf.gather_nd(height, at))
    linked = tf.cast(tf.where(is_node & has_parent & (slot < max_arity)), tf.int32)
    b = linked[:, 0]
    parent_rank = tf.gather_nd(rank, tf.stack([b, tf.gather_nd(parent, linked)], axis=1))
    children = tf.tensor_scatter_nd_update(
        tf.fill([batch, length, max_arity], -1),
        tf.stack([b, parent_rank, tf.gather_nd(slot, linked)], axis=1), tf.gather_nd(rank, linked))
    return x_index, children, level, count


@keras.saving.register_keras_serializable(package="seqpipe")
class RecursiveEncoder(keras.layers.Layer):
    """Compose the nodes of bracketed trees bottom-up, one batched matrix operation per tree level.

    Args:
        units: width of the node states.
        composition: ``tanh``, ``treelstm`` (Child-Sum) or ``nary_treelstm`` (see the module docstring).
        max_arity: the most children a node may have (the width of the children matrix; ``tanh`` and
            ``nary_treelstm`` have weights per child position).
        open_id, close_id: the ids of ``(`` and ``)`` (4 and 5 in a ``tree`` tokenizer's vocabulary).

    Call arguments:
        token_ids: int ``(batch, length)``, the bracketed trees' token ids, right-padded with 0.
        embedded: ``(batch, length, dim)``, the embedded tokens (any mask on it is not needed).

    Returns:
        ``(batch, length, units)``: node states in post-order, zeros past each tree's nodes, with a Keras
        mask over the real nodes (the root is the last real step).
    """

    def __init__(self, units: int, composition: str = "tanh", max_arity: int = 2, open_id: int = 4,
                 close_id: int = 5, **kwargs):
        super().__init__(**kwargs)
        if composition not in COMPOSITIONS:
            raise ValueError(f"Invalid value for argument composition. Expected one of {COMPOSITIONS}. "
                             f"Received: composition={composition}")
        self.units, self.composition, self.max_arity = int(units), composition, int(max_arity)
        self.open_id, self.close_id = int(open_id), int(close_id)
        self.supports_masking = True
        self.supports_jit = False  # dynamic shapes (the nodes of each level)

    def build(self, token_ids_shape, embedded_shape):
        dim, units, arity = int(embedded_shape[-1]), self.units, self.max_arity

        def bias_init(forget_from: int):
            def init(shape, dtype=None):
                return tf.concat([tf.zeros([forget_from], dtype), tf.ones([shape[0] - forget_from], dtype)], 0)
            return init

        if self.composition == "tanh":
            self.child_kernel = self.add_weight(shape=(arity * units, units), name="child_kernel")
            self.input_kernel = self.add_weight(shape=(dim, units), name="input_kernel")
            self.bias = self.add_weight(shape=(units,), initializer="zeros", name="bias")
        elif self.composition == "treelstm":  # gates i, o, u, f
            self.input_kernel = self.add_weight(shape=(dim, 4 * units), name="input_kernel")
            self.child_kernel = self.add_weight(shape=(units, 3 * units), name="child_kernel", initializer="orthogonal")
            self.forget_kernel = self.add_weight(shape=(units, units), name="forget_kernel", initializer="orthogonal")
            self.bias = self.add_weight(shape=(4 * units,), initializer=bias_init(3 * units), name="bias")
        else:  # nary: gates i, o, u, f_1 .. f_A
            gates = (3 + arity) * units
            self.input_kernel = self.add_weight(shape=(dim, gates), name="input_kernel")
            self.child_kernel = self.add_weight(shape=(arity * units, gates), name="child_kernel")
            self.bias = self.add_weight(shape=(gates,), initializer=bias_init(3 * units), name="bias")

    def _compose(self, x, h, c):
        """States of ``m`` nodes from their inputs ``x`` (m, dim) and children ``h``, ``c`` (m, arity, units)."""
        units, arity = self.units, self.max_arity
        flat = tf.reshape(h, [-1, arity * units])
        if self.composition == "tanh":
            new_h = tf.tanh(tf.matmul(flat, self.child_kernel) + tf.matmul(x, self.input_kernel) + self.bias)
            return new_h, tf.zeros_like(new_h)
        if self.composition == "treelstm":
            wx = tf.matmul(x, self.input_kernel) + self.bias
            iou = wx[:, : 3 * units] + tf.matmul(tf.reduce_sum(h, axis=1), self.child_kernel)
            forget = tf.sigmoid(wx[:, None, 3 * units:] + tf.einsum("mau,uv->mav", h, self.forget_kernel))
        else:
            gates = tf.matmul(x, self.input_kernel) + tf.matmul(flat, self.child_kernel) + self.bias
            iou = gates[:, : 3 * units]
            forget = tf.sigmoid(tf.reshape(gates[:, 3 * units:], [-1, arity, units]))
        i, o, u = tf.split(iou, 3, axis=-1)
        new_c = tf.sigmoid(i) * tf.tanh(u) + tf.reduce_sum(forget * c, axis=1)
        return tf.sigmoid(o) * tf.tanh(new_c), new_c

    def call(self, token_ids, embedded, training=None):
        x_index, children, level, count = tree_structure(token_ids, self.open_id, self.close_id, self.max_arity)
        batch, length = tf.shape(x_index)[0], tf.shape(x_index)[1]
        x = tf.gather(tf.cast(embedded, self.compute_dtype), x_index, batch_dims=1)  # each node's input
        zeros = tf.zeros([batch, length, self.units], self.compute_dtype)
        arity = self.max_arity

        def step(k, h, c):
            at = tf.cast(tf.where(tf.equal(level, k)), tf.int32)  # (m, 2): every node of height k in the batch
            kids = tf.gather_nd(children, at)  # (m, arity)
            real = tf.cast(kids >= 0, self.compute_dtype)[:, :, None]
            where = tf.stack([tf.repeat(at[:, :1], arity, axis=1), tf.maximum(kids, 0)], axis=-1)
            new_h, new_c = self._compose(tf.gather_nd(x, at), tf.gather_nd(h, where) * real,
                                         tf.gather_nd(c, where) * real)
            return k + 1, tf.tensor_scatter_nd_update(h, at, new_h), tf.tensor_scatter_nd_update(c, at, new_c)

        _, h, _ = tf.while_loop(lambda k, h, c: k <= tf.reduce_max(level), step, [tf.constant(0), zeros, zeros])
        return h

    def compute_mask(self, token_ids, previous_mask=None):
        from keras import ops  # works on symbolic tensors too

        ids = ops.cast(token_ids, "int32")
        is_open, is_close = ops.equal(ids, self.open_id), ops.equal(ids, self.close_id)
        after_open = ops.pad(ops.cast(is_open[:, :-1], "int32"), [[0, 0], [1, 0]]) > 0
        leaf = ops.not_equal(ids, 0) & ~is_open & ~is_close & ~after_open
        count = ops.sum(ops.cast(leaf | is_close, "int32"), axis=1)
        position = ops.cumsum(ops.ones_like(ids), axis=1) - 1  # (symbolic lengths allowed)
        return position < count[:, None]

    def compute_output_shape(self, token_ids_shape, embedded_shape):
        return (token_ids_shape[0], token_ids_shape[1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, composition=self.composition, max_arity=self.max_arity,
                      open_id=self.open_id, close_id=self.close_id)
        return config
