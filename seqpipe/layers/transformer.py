"""Transformer encoder and decoder stacks built from keras-hub's layers (Vaswani et al. 2017).

:class:`TransformerEncoderStack` is ``encode: {kind: transformer}``: the embedded tokens (projected to the model
width when the embedding is narrower or wider), scaled by sqrt(width), plus sine positions, through keras-hub
``TransformerEncoder`` blocks with the padding mask. :class:`TransformerDecoderStack` is ``decode: {kind:
transformer}``: the interface of :class:`seqpipe.layers.decoder.AttentionDecoder` (``call`` with teacher forcing,
``initial_state``/``step`` for :mod:`seqpipe.decoding`), with keras-hub ``TransformerDecoder`` blocks. Decoding
keeps a key/value cache per block: the self-attention cache ``[batch, 2, max_length, heads, head_dim]`` is written
at the step's index and the cross-attention keys/values of the memory are projected once, in ``initial_state``,
so a step costs the same at any prefix length. The state is a flat dict of tensors with the batch first, so beam
search reorders it like a recurrent state.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import ops
from keras_hub.layers import SinePositionEncoding, TransformerDecoder, TransformerEncoder

PAD_ID = 0


def _embedding_input(layer, x, start_index=0, positions=None):
    """Token embeddings -> model width (a projection when they differ), x sqrt(width), + sine positions (from
    ``start_index``, or ``positions`` per row)."""
    if layer.project is not None:
        x = layer.project(x)
    x = ops.cast(x, layer.compute_dtype) * ops.cast(math.sqrt(layer.units), layer.compute_dtype)
    if positions is not None:
        positions = ops.cast(positions, layer.compute_dtype)
    return x + ops.cast(layer.positions(x, start_index=start_index, positions=positions), layer.compute_dtype)


def _check_heads(units: int, heads: int) -> None:
    if units % heads:
        raise ValueError(f"a Transformer's width ({units}) must be a multiple of its heads ({heads})")


@keras.saving.register_keras_serializable(package="seqpipe")
class TransformerEncoderStack(keras.layers.Layer):
    """``layers`` keras-hub TransformerEncoder blocks over embedded tokens; the padding mask propagates.

    Args:
        units: the model width (d_model); the input is projected to it when its width differs.
        layers: the number of blocks. heads: attention heads (``units`` must be a multiple).
        ff_dim: the feed-forward width (None: 4 x units). dropout: on the embedded input and inside every block.
        normalize_first: pre-layer-norm blocks (a final layer norm follows the last one); False: post-norm, as in
            the paper.
    """

    def __init__(self, units: int = 128, layers: int = 2, heads: int = 4, ff_dim: int | None = None,
                 dropout: float = 0.0, normalize_first: bool = False, **kwargs):
        super().__init__(**kwargs)
        _check_heads(int(units), int(heads))
        self.units, self.n_layers, self.heads = int(units), int(layers), int(heads)
        self.ff_dim = int(ff_dim or 4 * self.units)
        self.dropout, self.normalize_first = float(dropout), bool(normalize_first)
        self.supports_masking = True
        policy = self.dtype_policy
        self.project = None
        self.positions = SinePositionEncoding(name="positions", dtype=policy)
        self.drop = keras.layers.Dropout(self.dropout)
        self.blocks = [self.block_class(self.ff_dim, self.heads, dropout=self.dropout,
                                        normalize_first=self.normalize_first, name=f"block_{i}", dtype=policy)
                       for i in range(self.n_layers)]
        self.final_norm = (keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm", dtype=policy)
                           if normalize_first else None)

    block_class = TransformerEncoder

    def build(self, input_shape):
        if input_shape[-1] != self.units:
            self.project = keras.layers.Dense(self.units, name="input_projection", dtype=self.dtype_policy)
            self.project.build(input_shape)
        shape = (*input_shape[:-1], self.units)
        for block in self.blocks:
            block.build(shape)
        if self.final_norm is not None:
            self.final_norm.build(shape)
        self.built = True

    def call(self, inputs, mask=None, training=None):
        x = self.drop(_embedding_input(self, inputs), training=training)
        padding = None if mask is None else ops.cast(mask, "bool")
        for block in self.blocks:
            x = block(x, padding_mask=padding, training=training)
        return self.final_norm(x) if self.final_norm is not None else x

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "layers": self.n_layers, "heads": self.heads,
                "ff_dim": self.ff_dim, "dropout": self.dropout, "normalize_first": self.normalize_first}


@keras.saving.register_keras_serializable(package="seqpipe")
class CausalTransformerStack(TransformerEncoderStack):
    """The decoder-only stack of a Transformer language model: keras-hub TransformerDecoder blocks without
    attention over a memory, each position attending to itself and the positions before it (GPT's layout).
    Arguments as :class:`TransformerEncoderStack`.

    ``initial_state(batch, length)`` and ``step(x, state, real)`` run it one embedded token at a time with a
    key/value cache of ``length`` positions. Left-padded prompts of unequal length share the cache index:
    ``valid`` marks the positions written with a real token (the only ones attended to) and ``position`` counts
    each row's real tokens (its sine position), so a padded row steps as it would alone.
    """

    block_class = TransformerDecoder

    def call(self, inputs, mask=None, training=None):
        x = self.drop(_embedding_input(self, inputs), training=training)
        padding = None if mask is None else ops.cast(mask, "bool")
        for block in self.blocks:
            x = block(x, decoder_padding_mask=padding, training=training)
        return self.final_norm(x) if self.final_norm is not None else x

    def initial_state(self, batch, length) -> dict:
        head_dim = self.units // self.heads
        state = {f"self_{i}": ops.zeros((batch, 2, length, self.heads, head_dim), dtype=self.compute_dtype)
                 for i in range(self.n_layers)}
        state["valid"] = ops.zeros((batch, length), dtype="bool")
        state["index"] = ops.zeros((batch,), dtype="int32")  # the cache position written next (every row's)
        state["position"] = ops.zeros((batch,), dtype="int32")  # each row's real tokens so far: its sine position
        return state

    @tf.autograph.experimental.do_not_convert  # no Python control flow on tensors: nothing to convert
    def step(self, x, state, real=None):
        """One embedded token per row ``(n, width)`` at the state's index -> (outputs ``(n, units)``, new state);
        ``real`` (bool ``(n,)``, default all): whether the token is real or left padding that later steps ignore."""
        index = state["index"][0]
        h = _embedding_input(self, ops.expand_dims(x, 1), positions=ops.expand_dims(state["position"], 1))
        real = ops.ones_like(state["position"], dtype="bool") if real is None else ops.cast(real, "bool")
        written = ops.logical_and(ops.expand_dims(ops.arange(ops.shape(state["valid"])[1]) == index, 0),
                                  ops.expand_dims(real, 1))
        new = {"valid": ops.logical_or(state["valid"], written), "index": state["index"] + 1,
               "position": state["position"] + ops.cast(real, "int32")}
        keys = ops.expand_dims(new["valid"], 1)
        for i, block in enumerate(self.blocks):
            h, new[f"self_{i}"], _ = _cached_block(block, h, state[f"self_{i}"], None, None, index, keys)
        h = self.final_norm(h) if self.final_norm is not None else h
        return h[:, 0, :], new


@keras.saving.register_keras_serializable(package="seqpipe")
class TransformerDecoderStack(keras.layers.Layer):
    """Target embedding + sine positions -> keras-hub TransformerDecoder blocks (causal self-attention, attention
    over the memory) -> vocabulary logits; decodes step by step with a key/value cache.

    Args:
        vocab_size: target vocabulary size. embed_dim: target embedding width (projected to ``units`` if it
            differs). units: the model width. layers, heads, ff_dim, dropout, normalize_first: as
            :class:`TransformerEncoderStack`. max_length: the most tokens a search writes (the length of the
            self-attention cache). memory_dim: the width of the memory attended over (any width).

    Call arguments and result: as :class:`seqpipe.layers.decoder.AttentionDecoder` (``encoder_states`` is not
    read: the decoder starts from its embeddings and reads the memory through attention).
    """

    def __init__(self, vocab_size: int, embed_dim: int, units: int = 128, layers: int = 2, heads: int = 4,
                 ff_dim: int | None = None, dropout: float = 0.0, normalize_first: bool = False, max_length: int = 64,
                 memory_dim: int = 128, **kwargs):
        super().__init__(**kwargs)
        _check_heads(int(units), int(heads))
        self.vocab_size, self.embed_dim, self.units = int(vocab_size), int(embed_dim), int(units)
        self.n_layers, self.heads, self.ff_dim = int(layers), int(heads), int(ff_dim or 4 * units)
        self.dropout, self.normalize_first = float(dropout), bool(normalize_first)
        self.max_length, self.memory_dim = int(max_length), int(memory_dim)
        self.head_dim = self.units // self.heads
        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(self.vocab_size, self.embed_dim, name="target_embedding",
                                                dtype=policy)
        self.project = (keras.layers.Dense(self.units, name="input_projection", dtype=policy)
                        if self.embed_dim != self.units else None)
        self.positions = SinePositionEncoding(name="positions", dtype=policy)
        self.drop = keras.layers.Dropout(self.dropout)
        self.blocks = [TransformerDecoder(self.ff_dim, self.heads, dropout=self.dropout,
                                          normalize_first=self.normalize_first, name=f"block_{i}", dtype=policy)
                       for i in range(self.n_layers)]
        self.final_norm = (keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm", dtype=policy)
                           if normalize_first else None)
        self.projection = keras.layers.Dense(self.vocab_size, dtype="float32", name="output_projection")

    def scheduled_sampling(self, *args, **kwargs):
        raise ValueError("scheduled sampling feeds a recurrent decoder its own tokens step by step; the Transformer "
                         "decoder reads the whole target at once (train.scheduled_sampling needs decode.kind: "
                         "recurrent)")

    def build(self, input_shape=None):
        self.embedding.build((None, None))
        if self.project is not None:
            self.project.build((None, None, self.embed_dim))
        for block in self.blocks:
            block.build((None, None, self.units), (None, None, self.memory_dim))
        if self.final_norm is not None:
            self.final_norm.build((None, None, self.units))
        self.projection.build((None, None, self.units))
        self.built = True

    def _output(self, x):
        return self.projection(self.final_norm(x) if self.final_norm is not None else x)

    # -- training ------------------------------------------------------------------------
    def call(self, target_in, memory, memory_mask, encoder_states=None, training=None):
        x = self.drop(_embedding_input(self, self.embedding(target_in)), training=training)
        mask = None if memory_mask is None else ops.cast(memory_mask, "bool")
        memory = ops.copy(memory)  # the padding is given as encoder_padding_mask; the copy drops the Keras mask
        for block in self.blocks:
            x = block(x, memory, encoder_padding_mask=mask, training=training)
        return self._output(self.drop(x, training=training))

    # -- decoding ------------------------------------------------------------------------
    def initial_state(self, memory, memory_mask, encoder_states=None) -> dict:
        """Per block an empty self-attention cache and the memory's projected keys/values; the memory mask and
        the step index (per row, so that beam search can reorder the state like any other)."""
        batch, steps = ops.shape(memory)[0], ops.shape(memory)[1]
        memory = ops.cast(ops.copy(memory), self.compute_dtype)  # a copy: without the Keras mask it may carry
        state = {}
        for i, block in enumerate(self.blocks):
            attention = block._cross_attention_layer
            state[f"self_{i}"] = ops.zeros((batch, 2, self.max_length, self.heads, self.head_dim),
                                           dtype=self.compute_dtype)
            state[f"cross_{i}"] = ops.stack([attention._key_dense(memory), attention._value_dense(memory)], axis=1)
        state["mask"] = (ops.ones((batch, steps), dtype="bool") if memory_mask is None
                         else ops.cast(memory_mask, "bool"))
        state["index"] = ops.zeros((batch,), dtype="int32")
        return state

    @tf.autograph.experimental.do_not_convert  # no Python control flow on tensors: nothing to convert
    def step(self, tokens, state):
        """Decoding step: int tokens ``(n,)`` -> (float32 logits ``(n, vocab)``, new state, attention ``(n,
        source_len)``: the last block's attention over the memory, averaged over its heads)."""
        index = state["index"][0]
        x = _embedding_input(self, self.embedding(ops.expand_dims(tokens, 1)), start_index=index)
        new = {"mask": state["mask"], "index": state["index"] + 1}
        cross_mask = ops.expand_dims(state["mask"], 1)
        for i, block in enumerate(self.blocks):
            x, new[f"self_{i}"], scores = _cached_block(block, x, state[f"self_{i}"], state[f"cross_{i}"],
                                                        cross_mask, index)
            new[f"cross_{i}"] = state[f"cross_{i}"]
        weights = ops.mean(ops.cast(scores, "float32"), axis=1)[:, 0, :]
        return self._output(x)[:, 0, :], new, weights

    def compute_output_shape(self, target_shape, *args, **kwargs):
        return (target_shape[0], target_shape[1], self.vocab_size)

    def compute_output_spec(self, target_in, *args, **kwargs):
        return keras.KerasTensor(self.compute_output_shape(target_in.shape), dtype=self.projection.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "embed_dim": self.embed_dim,
                "units": self.units, "layers": self.n_layers, "heads": self.heads, "ff_dim": self.ff_dim,
                "dropout": self.dropout, "normalize_first": self.normalize_first, "max_length": self.max_length,
                "memory_dim": self.memory_dim}


def _cached_block(block: TransformerDecoder, x, self_cache, cross_cache, cross_mask, index, key_mask=None):
    """keras-hub's ``TransformerDecoder.call`` for one token at ``index`` with its caches (inference: no
    dropout), also returning the attention scores over the memory ``[n, heads, 1, source_len]``, which its call
    does not give (None for a block without a memory). ``key_mask`` (bool ``[n, 1, cache_length]``): the cache
    positions a step may attend to beside the causal limit. tests/unit/layers/test_transformer.py holds it to
    the block's own teacher-forced output."""
    self_mask = block._compute_self_attention_mask(
        decoder_sequence=x, decoder_padding_mask=None, decoder_attention_mask=None, use_causal_mask=True,
        self_attention_cache=self_cache, self_attention_cache_update_index=index)
    if key_mask is not None:
        self_mask = ops.logical_and(ops.cast(self_mask, "bool"), key_mask)
    residual = x
    if block.normalize_first:
        x = block._self_attention_layer_norm(x)
    x, self_cache = block._self_attention_layer(query=x, value=x, attention_mask=self_mask, cache=self_cache,
                                                cache_update_index=index)
    x = x + residual
    if not block.normalize_first:
        x = block._self_attention_layer_norm(x)
    scores = None
    if cross_cache is not None:
        residual = x
        if block.normalize_first:
            x = block._cross_attention_layer_norm(x)
        x, scores, _ = block._cross_attention_layer(query=x, value=x, attention_mask=cross_mask, cache=cross_cache,
                                                    cache_update_index=None, return_attention_scores=True)
        x = x + residual
        if not block.normalize_first:
            x = block._cross_attention_layer_norm(x)
    residual = x
    if block.normalize_first:
        x = block._feedforward_layer_norm(x)
    x = block._feedforward_output_dense(block._feedforward_intermediate_dense(x)) + residual
    if not block.normalize_first:
        x = block._feedforward_layer_norm(x)
    return x, self_cache, scores
