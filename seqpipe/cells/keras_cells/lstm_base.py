"""What seqpipe's LSTM variants share: the weights of Keras's LSTMCell (gate order i, f, c, o), states and config
(initializers and dropout: :mod:`seqpipe.cells.keras_cells.base`). Each variant implements one step in
:meth:`LSTMLikeCell.step`."""

from __future__ import annotations

from keras import ops

from seqpipe.cells.keras_cells.base import KernelCell
from seqpipe.cells.keras_cells.initializers import ForgetBias


class LSTMLikeCell(KernelCell):
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

    def __init__(self, units, forget_bias=1.0, **kwargs):
        super().__init__(units, **kwargs)
        self.forget_bias = float(forget_bias)
        self.state_size = [self.units, self.units]

    def build(self, input_shape):
        super().build(input_shape)
        self.add_kernels(input_shape[-1], 4 * self.units, self.kernel_initializer, self.recurrent_initializer,
                         ForgetBias(self.forget_bias))

    def step(self, inputs, h_tm1, c_tm1, training=False):
        """One step on (dropped-out) inputs: returns ``(h, c, gates)``, ``gates`` the post-sigmoid
        ``{"input", "forget", "output"}``."""
        raise NotImplementedError

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        inputs, h_tm1 = self.dropped(inputs, h_tm1, training)
        h, c, _ = self.step(inputs, h_tm1, c_tm1, training=training)
        return h, [h, c]

    def gate_activations(self, inputs, states):
        """The post-sigmoid gates of one step (no dropout), computed in the weights' dtype:
        ``{"input": i_t, "forget": f_t, "output": o_t}``, each ``(batch, units)``."""
        dtype = self.variable_dtype
        inputs = ops.convert_to_tensor(inputs, dtype)
        h_tm1, c_tm1 = (ops.convert_to_tensor(s, dtype) for s in states)
        return self.step(inputs, h_tm1, c_tm1, training=False)[2]

    def get_config(self):
        return {**super().get_config(), "forget_bias": self.forget_bias}
