"""Attention mechanisms over an encoder memory, one decoder step at a time.

Every mechanism has ``keys(memory)`` (computed once per source sentence) and
``call(query, keys, memory, mask) -> (context [batch, memory_dim], weights [batch, source_len])``.
Whether the query is the previous decoder state (Bahdanau) or the current one (Luong) is
the decoder's business: see ``query_before_cell``.
"""

from __future__ import annotations

import keras
from keras import ops


def _masked_softmax(scores, mask):
    scores = ops.where(mask, scores, ops.cast(-1e9, scores.dtype))
    return ops.softmax(scores, axis=-1)


class Attention(keras.layers.Layer):
    """Base class. Args: units (the additive/bilinear projection width), query_dim, memory_dim."""

    query_before_cell = False

    def __init__(self, units: int, query_dim: int, memory_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.units, self.query_dim, self.memory_dim = int(units), int(query_dim), int(memory_dim)

    def keys(self, memory):
        return memory

    def score(self, query, keys):
        raise NotImplementedError

    def call(self, query, keys, memory, mask):
        weights = _masked_softmax(self.score(query, keys), mask)
        context = ops.einsum("bs,bsm->bm", weights, memory)
        return context, weights

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, query_dim=self.query_dim, memory_dim=self.memory_dim)
        return config


@keras.saving.register_keras_serializable(package="seqpipe")
class BahdanauAttention(Attention):
    """score = v^T tanh(W_q q + W_m m)."""

    query_before_cell = True

    def build(self, input_shape=None):
        self.w_query = keras.layers.Dense(self.units, use_bias=False, name="w_query", dtype=self.dtype_policy)
        self.w_query.build((None, self.query_dim))
        self.w_memory = keras.layers.Dense(self.units, use_bias=False, name="w_memory", dtype=self.dtype_policy)
        self.w_memory.build((None, None, self.memory_dim))
        self.v = keras.layers.Dense(1, use_bias=False, name="v", dtype=self.dtype_policy)
        self.v.build((None, None, self.units))

    def keys(self, memory):
        return self.w_memory(memory)

    def score(self, query, keys):
        return ops.squeeze(self.v(ops.tanh(keys + ops.expand_dims(self.w_query(query), 1))), -1)


@keras.saving.register_keras_serializable(package="seqpipe")
class LuongDotAttention(Attention):
    """score = q . m (the decoder width must equal the memory width)."""

    def build(self, input_shape=None):
        if self.query_dim != self.memory_dim:
            raise ValueError(
                f"luong_dot attention needs decoder units == memory width; got {self.query_dim} and {self.memory_dim}")

    def score(self, query, keys):
        return ops.einsum("bm,bsm->bs", query, keys)


@keras.saving.register_keras_serializable(package="seqpipe")
class LuongGeneralAttention(Attention):
    """score = q^T W m."""

    def build(self, input_shape=None):
        self.w = keras.layers.Dense(self.memory_dim, use_bias=False, name="w", dtype=self.dtype_policy)
        self.w.build((None, self.query_dim))

    def score(self, query, keys):
        return ops.einsum("bm,bsm->bs", self.w(query), keys)


@keras.saving.register_keras_serializable(package="seqpipe")
class NoAttention(Attention):
    """No attention: a zero-width context and uniform weights."""

    def build(self, input_shape=None):
        pass

    def keys(self, memory):
        return memory[:, :, :0]

    def call(self, query, keys, memory, mask):
        weights = ops.cast(mask, query.dtype)
        weights = weights / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1.0)
        return memory[:, 0, :0], weights
