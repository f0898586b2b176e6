"""Recurrent decoder with attention, input feeding and an encoder-to-decoder bridge.

One step function serves training (teacher forcing, a ``tf.while_loop`` over the target)
and decoding (``seqpipe.decoding`` calls :meth:`AttentionDecoder.step`), so the two cannot
disagree. Keras 3's ``RNN`` layer no longer takes ``constants``, hence the explicit loop.

Scheduled sampling (Bengio et al. 2015) happens inside that training loop too: after
:meth:`AttentionDecoder.scheduled_sampling`, each training step's input is the gold previous
token with probability eps (a variable a callback sets, see
:class:`seqpipe.layers.scheduled_sampling.TeacherForcingSchedule`), else the model's own
previous prediction. Decoding and calls with ``training`` not True never change.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

import seqpipe.cells.keras_cells  # noqa: F401  (registers seqpipe's Keras cells, so saved models load)
from seqpipe.cells import get_cell, state_sizes
from seqpipe.layers import ATTENTIONS

CONTEXT_KEYS = ("memory", "keys", "mask")
PAD_ID = 0


class ScheduledSampling:
    """The training-time state of scheduled sampling: the teacher-forcing ratio eps and the training step.

    Both are plain ``tf.Variable`` s held outside Keras's tracking, so they are neither weights nor saved with
    the model (a callback sets them before every training batch, from the optimizer's step count; nothing at
    inference reads them). ``prediction`` is ``"sample"`` (draw the model's own token from its softmax, as the
    paper does) or ``"argmax"``. The random draws of a training step depend only on ``seed``, the step and
    the target position (stateless ops), so a resumed run draws what an uninterrupted one draws.
    """

    def __init__(self, prediction: str = "sample", seed: int = 0):
        if prediction not in ("sample", "argmax"):
            raise ValueError(f"prediction must be 'sample' or 'argmax'; got {prediction!r}")
        self.prediction, self.seed = prediction, int(seed)
        self.ratio = tf.Variable(1.0, trainable=False, dtype=tf.float32, name="teacher_forcing_ratio")
        self.step = tf.Variable(0, trainable=False, dtype=tf.int64, name="teacher_forcing_step")

    def set(self, step: int, ratio: float) -> None:
        self.step.assign(int(step))
        self.ratio.assign(float(ratio))


@keras.saving.register_keras_serializable(package="seqpipe")
class AttentionDecoder(keras.layers.Layer):
    """Decoder: target embedding -> stacked recurrent cells -> attention -> vocabulary logits.

    Args:
        vocab_size: target vocabulary size.
        embed_dim: target embedding width.
        cell: a cell spec: a kind registered in ``seqpipe.cells.CELLS`` (``"lstm"``) or a mapping with its options
            (``{"kind": "lstm", "peepholes": True}``); its single-step cell is used.
        units: width of every decoder layer.
        layers: number of stacked cells.
        residual: add each layer's input to its output from the second layer on (their widths are ``units``).
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
        ``(batch, source_len)``, or None when every position is real (an image grid). encoder_states: list of
        ``(batch, dim)`` final states.

    Returns:
        float32 logits ``(batch, target_len, vocab_size)``.
    """

    def __init__(self, vocab_size: int, embed_dim: int, cell: str | dict = "lstm", units: int = 256, layers: int = 1,
                 attention: str = "bahdanau", attention_units: int | None = None, input_feeding: bool = True,
                 bridge: str = "dense", memory_dim: int = 256, encoder_state_dims: list[int] = (256,),
                 dropout: float = 0.0, residual: bool = False, **kwargs):
        super().__init__(**kwargs)
        kind = get_cell(cell)
        self.vocab_size, self.embed_dim, self.cell, self.units = int(vocab_size), int(embed_dim), kind.spec, int(units)
        self.residual = bool(residual)
        self.layers, self.attention_name, self.input_feeding = int(layers), attention, bool(input_feeding)
        self.attention_units = int(attention_units or units)
        self.bridge, self.memory_dim = bridge, int(memory_dim)
        self.encoder_state_dims = [int(d) for d in encoder_state_dims]
        self.dropout = float(dropout)
        if bridge == "copy" and any(d != self.units for d in self.encoder_state_dims):
            raise ValueError(f"bridge 'copy' needs encoder state widths {self.encoder_state_dims} "
                             f"to equal decoder units {self.units}")

        self.embedding = keras.layers.Embedding(self.vocab_size, self.embed_dim, name="target_embedding")
        self.cells = [kind.cell(self.units, name=f"{kind.name}_cell_{i}") for i in range(self.layers)]
        self.state_widths = state_sizes(self.cells[0])  # units wide, except e.g. an NTM's memory and heads
        self.n_states = len(self.state_widths)
        if bridge == "copy" and any(d != w for d, w in zip(self.encoder_state_dims, self.state_widths)):
            raise ValueError(f"bridge 'copy' needs encoder state widths {self.encoder_state_dims} "
                             f"to equal the decoder cell's state widths {self.state_widths}")
        self.attention = ATTENTIONS.get(attention)(self.attention_units, self.units, self.memory_dim, name="attention")
        self.has_context = attention != "none"
        self.combine = (keras.layers.Dense(self.units, activation="tanh", use_bias=False, name="combine")
                        if self.has_context else None)
        self.projection = keras.layers.Dense(self.vocab_size, dtype="float32", name="output_projection")
        self.drop = keras.layers.Dropout(self.dropout)
        self.bridges = [keras.layers.Dense(self.state_widths[k], activation="tanh", name=f"bridge_{i}_{k}")
                        for i in range(self.layers) for k in range(self.n_states)] if bridge == "dense" else []
        self._sampling: ScheduledSampling | None = None  # training-time only, never in the config

    def scheduled_sampling(self, prediction: str = "sample", seed: int = 0) -> ScheduledSampling:
        """Turn on scheduled sampling for training calls (``training=True``); return its state, eps = 1 at first.

        With eps = 1 a training call gives exactly the logits of plain teacher forcing; lower, each example's
        input at step t > 0 is, with probability 1 - eps, the embedding of the model's own token predicted at
        step t - 1 (from the logits before output dropout; never padding) instead of the gold token's. The
        choice and the sample are not differentiated through (as in the paper).
        """
        self._sampling = ScheduledSampling(prediction, seed)
        return self._sampling

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
                    value = ops.zeros((batch, self.state_widths[k]), dtype=self.compute_dtype)
                state[f"s{i}_{k}"] = value
        if self.input_feeding:
            state["feed"] = zeros
        mask = (ops.ones(ops.shape(memory)[:2], dtype="bool") if memory_mask is None
                else ops.cast(memory_mask, "bool"))
        state.update(memory=ops.cast(memory, self.compute_dtype), keys=self.attention.keys(memory), mask=mask)
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
            y, states = cell(x, previous, training=training)
            x = x + y if self.residual and i > 0 else y
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
        sampling = self._sampling if training is True else None

        if sampling is None:  # teacher forcing: the gold previous token at every step
            def body(t, recurrent, vectors):
                vector, new, _ = self._step(steps[t], {**recurrent, **context}, training=training)
                return t + 1, {k: new[k] for k in recurrent}, vectors.write(t, vector)

            _, _, vectors = tf.while_loop(lambda t, *_: t < length, body, (tf.constant(0), state, vectors))
        else:  # scheduled sampling: step t + 1 reads the gold token or the model's own (its input is carried)
            key = tf.stack([tf.constant(sampling.seed, tf.int64), sampling.step.read_value()])

            def body(t, recurrent, vectors, x):
                vector, new, _ = self._step(x, {**recurrent, **context}, training=training)
                following = self._mix(steps[tf.minimum(t + 1, length - 1)], vector, sampling,
                                      tf.random.experimental.stateless_fold_in(key, t))
                return t + 1, {k: new[k] for k in recurrent}, vectors.write(t, vector), following

            _, _, vectors, _ = tf.while_loop(lambda t, *_: t < length, body,
                                             (tf.constant(0), state, vectors, steps[0]))
        outputs = tf.transpose(vectors.stack(), [1, 0, 2])
        outputs.set_shape([None, None, self.units])
        return self.projection(self.drop(outputs, training=training))

    def _mix(self, gold, vector, sampling: ScheduledSampling, key):
        """The next step's input: per example, the gold token's embedding with probability eps, else the
        embedding (with the same dropout) of the token the model predicts from ``vector``."""
        logits = tf.stop_gradient(tf.cast(self.projection(vector), tf.float32))[:, PAD_ID + 1:]  # never padding
        if sampling.prediction == "argmax":
            own = tf.argmax(logits, axis=-1, output_type=tf.int32)
        else:
            own = tf.random.stateless_categorical(logits, 1, seed=tf.random.experimental.stateless_fold_in(key, 1),
                                                  dtype=tf.int32)[:, 0]
        embedded = tf.cast(self.embedding(own + PAD_ID + 1), gold.dtype)
        if self.dropout:
            embedded = tf.nn.experimental.stateless_dropout(
                embedded, self.dropout, seed=tf.random.experimental.stateless_fold_in(key, 2))
        fold_in = tf.random.experimental.stateless_fold_in
        draw = tf.random.stateless_uniform([tf.shape(gold)[0], 1], seed=fold_in(key, 0))
        return tf.where(draw < sampling.ratio, gold, embedded)

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
                      encoder_state_dims=self.encoder_state_dims, dropout=self.dropout, residual=self.residual)
        return config
