"""LSTM with layer normalisation inside the recurrence (Ba, Kiros & Hinton 2016, "Layer Normalization")."""

from __future__ import annotations

import keras
from keras import ops

from seqpipe.cells.keras_cells.lstm_base import LSTMLikeCell


@keras.saving.register_keras_serializable(package="seqpipe")
class LayerNormLSTMCell(LSTMLikeCell):
    """Cell class of the layer-normalised LSTM (Ba et al. 2016, section 3.1 and the LN-LSTM of their appendix).

    ``LN(z; g, s) = g * (z - mean(z)) / sqrt(var(z) + epsilon) + s`` over the features of one step. The input
    and recurrent contributions to the ``4 * units`` gate pre-activations (Keras's order i, f, c, o) are
    normalised separately, each with its own gain; the bias ``b`` plays the part of both shifts::

        z = LN(W x_t; g_x) + LN(U h_{t-1}; g_h) + b
        i_t, f_t, o_t = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o)
        c_t = f_t * c_{t-1} + i_t * tanh(z_c)
        h_t = o_t * tanh(LN(c_t; g_c, s_c))

    The statistics are computed in float32 (also under mixed precision). Gains start at 1, the cell shift at 0.

    Args:
        units: positive integer, dimensionality of the output space.
        forget_bias: initial value of the forget gate's bias. Default: 1.
        epsilon: added to the variance. Default: 1e-3 (as ``keras.layers.LayerNormalization``).
        kernel_initializer, recurrent_initializer, dropout, recurrent_dropout, seed: as in ``keras.layers.LSTMCell``.

    Call arguments:
        inputs: a 2D tensor ``(batch, features)``.
        states: ``[h, c]``, the previous output and cell state, each ``(batch, units)``.
        training: Python boolean; only dropout depends on it.
    """

    def __init__(self, units, forget_bias=1.0, epsilon=1e-3, **kwargs):
        super().__init__(units, forget_bias=forget_bias, **kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        super().build(input_shape)
        self.input_gain = self.add_weight(shape=(4 * self.units,), name="input_gain", initializer="ones")
        self.recurrent_gain = self.add_weight(shape=(4 * self.units,), name="recurrent_gain", initializer="ones")
        self.cell_gain = self.add_weight(shape=(self.units,), name="cell_gain", initializer="ones")
        self.cell_shift = self.add_weight(shape=(self.units,), name="cell_shift", initializer="zeros")

    def _normalize(self, z):
        z32 = ops.cast(z, "float32")
        mean = ops.mean(z32, axis=-1, keepdims=True)
        variance = ops.var(z32, axis=-1, keepdims=True)
        return ops.cast((z32 - mean) * ops.rsqrt(variance + self.epsilon), z.dtype)

    def step(self, inputs, h_tm1, c_tm1, training=False):
        z = (self._normalize(ops.matmul(inputs, self.kernel)) * self.input_gain
             + self._normalize(ops.matmul(h_tm1, self.recurrent_kernel)) * self.recurrent_gain + self.bias)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i, f, o = ops.sigmoid(z_i), ops.sigmoid(z_f), ops.sigmoid(z_o)
        c = f * c_tm1 + i * ops.tanh(z_c)
        h = o * ops.tanh(self._normalize(c) * self.cell_gain + self.cell_shift)
        return h, c, {"input": i, "forget": f, "output": o}

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
