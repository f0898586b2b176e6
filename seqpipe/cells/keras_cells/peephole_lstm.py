"""LSTM with peephole connections (Gers & Schmidhuber 2000): the gates also see the cell state."""

from __future__ import annotations

import keras
from keras import ops

from seqpipe.cells.keras_cells.lstm_base import LSTMLikeCell


@keras.saving.register_keras_serializable(package="seqpipe")
class PeepholeLSTMCell(LSTMLikeCell):
    """Cell class of the LSTM with peepholes (Gers & Schmidhuber 2000, "Recurrent nets that time and count").

    With ``z = W x_t + U h_{t-1} + b`` split into ``z_i, z_f, z_c, z_o`` (Keras's gate order) and diagonal
    peephole weights ``p_i, p_f, p_o``::

        i_t = sigmoid(z_i + p_i * c_{t-1})
        f_t = sigmoid(z_f + p_f * c_{t-1})
        c_t = f_t * c_{t-1} + i_t * tanh(z_c)
        o_t = sigmoid(z_o + p_o * c_t)
        h_t = o_t * tanh(c_t)

    Keras's fused LSTM kernels (cuDNN included) have no peephole weights, so this cell runs in
    ``keras.layers.RNN``. The peephole weights start at 0: the cell starts as a plain LSTM.

    Args:
        units: positive integer, dimensionality of the output space.
        forget_bias: initial value of the forget gate's bias. Default: 1.
        peephole_initializer: initializer of the three ``(units,)`` peephole weights. Default: ``"zeros"``.
        kernel_initializer, recurrent_initializer, dropout, recurrent_dropout, seed: as in ``keras.layers.LSTMCell``.

    Call arguments:
        inputs: a 2D tensor ``(batch, features)``.
        states: ``[h, c]``, the previous output and cell state, each ``(batch, units)``.
        training: Python boolean; only dropout depends on it.

    Example:

    >>> rnn = keras.layers.RNN(PeepholeLSTMCell(4), return_sequences=True)
    >>> rnn(np.zeros((2, 10, 8))).shape
    (2, 10, 4)
    """

    def __init__(self, units, forget_bias=1.0, peephole_initializer="zeros", **kwargs):
        super().__init__(units, forget_bias=forget_bias, **kwargs)
        self.peephole_initializer = keras.initializers.get(peephole_initializer)

    def build(self, input_shape):
        super().build(input_shape)
        self.input_gate_peephole = self.add_weight(shape=(self.units,), name="input_gate_peephole",
                                                   initializer=self.peephole_initializer)
        self.forget_gate_peephole = self.add_weight(shape=(self.units,), name="forget_gate_peephole",
                                                    initializer=self.peephole_initializer)
        self.output_gate_peephole = self.add_weight(shape=(self.units,), name="output_gate_peephole",
                                                    initializer=self.peephole_initializer)

    def step(self, inputs, h_tm1, c_tm1, training=False):
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_tm1, self.recurrent_kernel) + self.bias
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = ops.sigmoid(z_i + self.input_gate_peephole * c_tm1)
        f = ops.sigmoid(z_f + self.forget_gate_peephole * c_tm1)
        c = f * c_tm1 + i * ops.tanh(z_c)
        o = ops.sigmoid(z_o + self.output_gate_peephole * c)
        return o * ops.tanh(c), c, {"input": i, "forget": f, "output": o}

    def get_config(self):
        return {**super().get_config(), "peephole_initializer": keras.initializers.serialize(self.peephole_initializer)}
