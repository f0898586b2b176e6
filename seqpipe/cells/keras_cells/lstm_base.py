"""What seqpipe's LSTM variants share: the weights of Keras's LSTMCell (gate order i, f, c, o), dropout masks,
states and config. Each variant implements one step in :meth:`LSTMLikeCell.step`."""

from __future__ import annotations

import keras
from keras import ops

# Keras's RNN layer prepares the dropout masks of cells that derive from this (Keras's own cells do).
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from seqpipe.cells.keras_cells.initializers import ForgetBias


class LSTMLikeCell(keras.layers.Layer, DropoutRNNCell):
    """Base of LSTM step cells: ``kernel`` ``(input_dim, 4 * units)``, ``recurrent_kernel`` ``(units, 4 * units)``
    and ``bias`` ``(4 * units,)`` in Keras's gate order (input, forget, cell candidate, output), states ``[h, c]``.

    Args:
        units: positive integer, dimensionality of the output space.
        forget_bias: initial value of the forget gate's bias (the rest of the bias starts at 0).
        kernel_initializer: initializer of ``kernel``. Default: ``"glorot_uniform"``.
        recurrent_initializer: initializer of ``recurrent_kernel``. Default: ``"orthogonal"``.
        dropout: float between 0 and 1, fraction of the inputs to drop (one mask for the whole sequence).
        recurrent_dropout: float between 0 and 1, fraction of ``h_{t-1}`` to drop (one mask for the sequence).
        seed: random seed for dropout.

    Call arguments:
        inputs: a 2D tensor ``(batch, features)``.
        states: ``[h, c]``, two 2D tensors ``(batch, units)``: the previous step's output and cell state.
        training: Python boolean; only dropout depends on it.

    Returns:
        ``(h, [h, c])``, the output and the new states.
    """

    def __init__(self, units, forget_bias=1.0, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        if units <= 0:
            raise ValueError(f"Received an invalid value for argument `units`, expected a positive integer, "
                             f"got {units}.")
        super().__init__(**kwargs)
        self.units = int(units)
        self.forget_bias = float(forget_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    def build(self, input_shape):
        super().build(input_shape)
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * self.units), name="kernel",
                                      initializer=self.kernel_initializer)
        self.recurrent_kernel = self.add_weight(shape=(self.units, 4 * self.units), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer)
        self.bias = self.add_weight(shape=(4 * self.units,), name="bias", initializer=ForgetBias(self.forget_bias))

    def step(self, inputs, h_tm1, c_tm1, training=False):
        """One step on (dropped-out) inputs: returns ``(h, c, gates)``, ``gates`` the post-sigmoid
        ``{"input", "forget", "output"}``."""
        raise NotImplementedError

    def _dropped(self, inputs, h_tm1, training):
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
        return inputs, h_tm1

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        inputs, h_tm1 = self._dropped(inputs, h_tm1, training)
        h, c, _ = self.step(inputs, h_tm1, c_tm1, training=training)
        return h, [h, c]

    def gate_activations(self, inputs, states):
        """The post-sigmoid gates of one step (no dropout), computed in the weights' dtype:
        ``{"input": i_t, "forget": f_t, "output": o_t}``, each ``(batch, units)``."""
        dtype = self.variable_dtype
        inputs = ops.convert_to_tensor(inputs, dtype)
        h_tm1, c_tm1 = (ops.convert_to_tensor(s, dtype) for s in states)
        return self.step(inputs, h_tm1, c_tm1, training=False)[2]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in self.state_size]

    def get_config(self):
        config = {
            "units": self.units,
            "forget_bias": self.forget_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
