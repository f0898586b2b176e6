"""Skip connections through time: a wrapper that feeds a cell its own output from ``delay`` steps back
(Lin et al. 1996; Goodfellow et al. 2016, section 10.9.1, "adding skip connections through time")."""

from __future__ import annotations

import keras
from keras import ops

# Keras's RNN layer prepares the dropout masks of cells that derive from this (Keras's own cells do).
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from seqpipe.cells.keras_cells.base import state_sizes


@keras.saving.register_keras_serializable(package="seqpipe")
class SkipDelayCell(keras.layers.Layer, DropoutRNNCell):
    """Wraps any RNN cell so that step ``t`` also receives the cell's output ``h_{t-d}``::

        y_t, s_t = cell([x_t ; h_{t-d}], s_{t-1})        (h_{t-d} = 0 for t < d)

    A direct path across ``d`` steps, so gradients reach ``d`` times further back for the same number of
    steps (the "multiple time scales" remedy). The state is the wrapped cell's states plus a buffer of its last
    ``d`` outputs, ``(batch, d * output_size)``, oldest first; the wrapped cell's inputs are
    ``input_dim + output_size`` wide. It runs in ``keras.layers.RNN``, so masking works as for any cell (a
    masked step keeps the buffer as it is), and never on Keras's fused (cuDNN) kernels.

    Args:
        cell: a Keras RNN cell (a layer with ``state_size``), e.g. ``keras.layers.LSTMCell(64)``.
        delay: positive integer ``d``.

    Call arguments:
        inputs: a 2D tensor ``(batch, features)``.
        states: the wrapped cell's states followed by the buffer ``(batch, d * output_size)``.
        training: Python boolean, passed to the wrapped cell.
    """

    def __init__(self, cell, delay, **kwargs):
        if int(delay) < 1:
            raise ValueError(f"delay must be a positive integer; got {delay}")
        super().__init__(**kwargs)
        self.cell = cell
        self.delay = int(delay)
        inner = state_sizes(cell)
        self.output_size = int(getattr(cell, "output_size", None) or inner[0])
        self.inner_state_count = len(inner)
        self.state_size = [*inner, self.delay * self.output_size]

    def build(self, input_shape):
        super().build(input_shape)
        if not self.cell.built:
            self.cell.build((input_shape[0], input_shape[-1] + self.output_size))

    def _widened(self, inputs):
        return ops.concatenate([inputs, ops.zeros((ops.shape(inputs)[0], self.output_size), inputs.dtype)], axis=-1)

    def call(self, inputs, states, training=False):
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        inner, buffer = states[:-1], states[-1]
        delayed = buffer[:, : self.output_size]
        output, new = self.cell(ops.concatenate([inputs, ops.cast(delayed, inputs.dtype)], axis=-1), inner,
                                training=training)
        new = list(new) if isinstance(new, (list, tuple)) else [new]
        buffer = ops.concatenate([buffer[:, self.output_size:], ops.cast(output, buffer.dtype)], axis=-1)
        return output, [*new, buffer]

    def gate_activations(self, inputs, states):
        """The wrapped cell's gates for one step (see :func:`seqpipe.cells.gate_activations`)."""
        from seqpipe.cells.keras_cells.gates import gate_activations

        states = list(states)
        delayed = ops.convert_to_tensor(states[-1])[:, : self.output_size]
        inputs = ops.convert_to_tensor(inputs)
        return gate_activations(self.cell, ops.concatenate([inputs, ops.cast(delayed, inputs.dtype)], axis=-1),
                                states[:-1])

    # The wrapped cell's dropout masks, prepared by keras.layers.RNN before its loop (as for Keras's own cells).
    def get_dropout_mask(self, step_input):
        if isinstance(self.cell, DropoutRNNCell):
            return self.cell.get_dropout_mask(self._widened(step_input))
        return None

    def get_recurrent_dropout_mask(self, step_input):
        if isinstance(self.cell, DropoutRNNCell):
            return self.cell.get_recurrent_dropout_mask(step_input)
        return None

    def reset_dropout_mask(self):
        if isinstance(self.cell, DropoutRNNCell):
            self.cell.reset_dropout_mask()

    def reset_recurrent_dropout_mask(self):
        if isinstance(self.cell, DropoutRNNCell):
            self.cell.reset_recurrent_dropout_mask()

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in self.state_size]

    def get_config(self):
        return {**super().get_config(), "cell": keras.saving.serialize_keras_object(self.cell), "delay": self.delay}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cell = keras.saving.deserialize_keras_object(config.pop("cell"), custom_objects=custom_objects)
        return cls(cell, **config)
