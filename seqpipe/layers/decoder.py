"""Recurrent decoder with attention, input feeding and an encoder-to-decoder bridge.

One step function serves training (teacher forcing, a ``tf.while_loop`` over the target)
and decoding (``seqpipe.decoding`` calls :meth:`AttentionDecoder.step`), so the two cannot
disagree. Keras 3's ``RNN`` layer no longer takes ``constants``, hence the explicit loop.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from seqpipe.cells import get_cell, state_sizes
from seqpipe.layers import ATTENTIONS

CONTEXT_KEYS = ("memory", "keys", "mask")


@keras.saving.register_keras_serializable(package="seqpipe")
class AttentionDecoder(keras.layers.Layer):
    """Decoder: target embedding -> stacked recurrent cells -> attention -> vocabulary logits.

    Args:
        vocab_size: target vocabulary size.
        embed_dim: target embedding width.
        cell: a cell kind registered in ``seqpipe.cells.CELLS`` (its single-step cell is used).
        units: width of every decoder layer.
        layers: number of stacked cells.
        attention: a name in ``seqpipe.layers.ATTENTIONS`` (bahdanau, luong_dot, luong_general, none).
        attention_units: projection width of additive/bilinear attention (default ``units``).
        input_feeding: feed the previous attentional vector into the next step (Luong et al.).
        bridge: how the encoder's final state initialises every decoder layer:
            ``zero``, ``copy`` (widths must match) or ``dense`` (a tanh layer per state).
        memory_dim: width of the encoder outputs attended over.
        encoder_state_dims: widths of the encoder's final states (``[h]`` or ``[h, c]``).
        dropout: dropout on the target embeddings and on the attentional vectors.

    Call arguments:
        target_in: int ``(batch, target_len)``, the target shifted right (starts with ``[START]``).
        memory: ``(batch, source_len, memory_dim)`` encoder outputs. memory_mask: bool
        ``(batch, source_len)``. encoder_states: list of ``(batch, dim)`` final states.

    Returns:
        float32 logits ``(batch, target_len, vocab_size)``.
    """

    def __init__(self, vocab_size: int, embed_dim: int, cell: str = "lstm", units: int = 256, layers: int = 1,
                 attention: str = "bahdanau", attention_units: int | None = None, input_feeding: bool = True,
                 bridge: str = "dense", memory_dim: int = 256, encoder_state_dims: list[int] = (256,),
                 dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.embed_dim, self.cell, self.units = int(vocab_size), int(embed_dim), cell, int(units)
        self.layers, self.attention_name, self.input_feeding = int(layers), attention, bool(input_feeding)
        self.attention_units = int(attention_units or units)
        self.bridge, self.memory_dim = bridge, int(memory_dim)
        self.encoder_state_dims = [int(d) for d in encoder_state_dims]
        self.dropout = float(dropout)
        if bridge == "copy" and any(d != self.units for d in self.encoder_state_dims):
            raise ValueError(f"bridge 'copy' needs encoder state widths {self.encoder_state_dims} "
                             f"to equal decoder units {self.units}")

        self.embedding = keras.layers.Embedding(self.vocab_size, self.embed_dim, name="target_embedding")
        kind = get_cell(cell)
        self.cells = [kind.cell(self.units, name=f"{cell}_cell_{i}") for i in range(self.layers)]
        self.n_states = len(state_sizes(self.cells[0]))
        self.attention = ATTENTIONS.get(attention)(self.attention_units, self.units, self.memory_dim, name="attention")
        self.has_context = attention != "none"
        self.combine = (keras.layers.Dense(self.units, activation="tanh", use_bias=False, name="combine")
                        if self.has_context else None)
        self.projection = keras.layers.Dense(self.vocab_size, dtype="float32", name="output_projection")
        self.drop = keras.layers.Dropout(self.dropout)
        self.bridges = [keras.layers.Dense(self.units, activation="tanh", name=f"bridge_{i}_{k}")
                        for i in range(self.layers) for k in range(self.n_states)] if bridge == "dense" else []

    def build(self, input_shape=None):
        self.embedding.build((None, None))
        context_in = self.memory_dim if (self.has_context and self.attention.query_before_cell) else 0
        first = self.embed_dim + (self.units if self.input_feeding else 0) + context_in
        for i, cell in enumerate(self.cells):
            cell.build((None, first if i == 0 else self.units))
        self.attention.build()
        if self.combine is not None:
            self.combine.build((None, self.units + self.memory_dim))
        self.projection.build((None, self.units))
        for j, dense in enumerate(self.bridges):
            k = j % self.n_states
            dense.build((None, self.encoder_state_dims[min(k, len(self.encoder_state_dims) - 1)]))
        self.built = True

    # -- state ---------------------------------------------------------------------------
    def initial_state(self, memory, memory_mask, encoder_states) -> dict:
        """The decoding state: per-layer recurrent states, the fed-back vector, and the context."""
        batch = ops.shape(memory)[0]
        zeros = ops.zeros((batch, self.units), dtype=self.compute_dtype)
        state = {}
        for i in range(self.layers):
            for k in range(self.n_states):
                source = encoder_states[min(k, len(encoder_states) - 1)]
                if self.bridge == "dense":
                    value = self.bridges[i * self.n_states + k](source)
                elif self.bridge == "copy" and k < len(encoder_states):
                    value = ops.cast(encoder_states[k], self.compute_dtype)
                else:
                    value = zeros
                state[f"s{i}_{k}"] = value
        if self.input_feeding:
            state["feed"] = zeros
        state.update(memory=ops.cast(memory, self.compute_dtype), keys=self.attention.keys(memory),
                     mask=ops.cast(memory_mask, "bool"))
        return state

    def _step(self, x, state, training=None):
        """One step on an embedded token: returns (attentional vector, new state, attention weights)."""
        memory, keys, mask = state["memory"], state["keys"], state["mask"]
        if self.input_feeding:
            x = ops.concatenate([x, state["feed"]], axis=-1)
        if self.has_context and self.attention.query_before_cell:
            context, weights = self.attention(state[f"s{self.layers - 1}_0"], keys, memory, mask)
            x = ops.concatenate([x, context], axis=-1)
        new = {}
        for i, cell in enumerate(self.cells):
            previous = [state[f"s{i}_{k}"] for k in range(self.n_states)]
            x, states = cell(x, previous, training=training)
            for k in range(self.n_states):
                new[f"s{i}_{k}"] = states[k]
        if not (self.has_context and self.attention.query_before_cell):
            context, weights = self.attention(x, keys, memory, mask)
        vector = self.combine(ops.concatenate([context, x], axis=-1)) if self.combine is not None else x
        if self.input_feeding:
            new["feed"] = vector
        new.update(memory=memory, keys=keys, mask=mask)
        return vector, new, ops.cast(weights, "float32")

    def step(self, tokens, state):
        """Decoding step: int tokens ``(n,)`` -> (float32 logits ``(n, vocab)``, new state,
        attention ``(n, source_len)``)."""
        vector, new, weights = self._step(self.embedding(tokens), state, training=False)
        return self.projection(vector), new, weights

    # -- training ------------------------------------------------------------------------
    def call(self, target_in, memory, memory_mask, encoder_states, training=None):
        state = self.initial_state(memory, memory_mask, encoder_states)
        context = {k: state.pop(k) for k in CONTEXT_KEYS}
        embedded = self.drop(self.embedding(target_in), training=training)
        steps = tf.transpose(embedded, [1, 0, 2])
        length = tf.shape(steps)[0]
        vectors = tf.TensorArray(self.compute_dtype, size=length)

        def body(t, recurrent, vectors):
            vector, new, _ = self._step(steps[t], {**recurrent, **context}, training=training)
            return t + 1, {k: new[k] for k in recurrent}, vectors.write(t, vector)

        _, _, vectors = tf.while_loop(lambda t, *_: t < length, body, (tf.constant(0), state, vectors))
        outputs = tf.transpose(vectors.stack(), [1, 0, 2])
        outputs.set_shape([None, None, self.units])
        return self.projection(self.drop(outputs, training=training))

    def compute_output_shape(self, target_shape, *args, **kwargs):
        return (target_shape[0], target_shape[1], self.vocab_size)

    def compute_output_spec(self, target_in, *args, **kwargs):
        # The logits are float32 (the projection's dtype) under any dtype policy; from compute_output_shape
        # alone, Keras would give the symbolic output the compute dtype (bfloat16 under mixed_bfloat16).
        return keras.KerasTensor(self.compute_output_shape(target_in.shape), dtype=self.projection.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, embed_dim=self.embed_dim, cell=self.cell, units=self.units,
                      layers=self.layers, attention=self.attention_name, attention_units=self.attention_units,
                      input_feeding=self.input_feeding, bridge=self.bridge, memory_dim=self.memory_dim,
                      encoder_state_dims=self.encoder_state_dims, dropout=self.dropout)
        return config
