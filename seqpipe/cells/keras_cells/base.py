"""What seqpipe's Keras step cells share: ``units``, input and recurrent dropout with one mask per sequence, the
dropout seed, zero initial states and their config; for cells with trained ``W x + U h + b`` weights also their
initializers. Each cell adds its own weights, step and options."""

from __future__ import annotations

import keras
from keras import ops

# Keras's RNN layer prepares the dropout masks of cells that derive from this (Keras's own cells do).
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell


def state_sizes(cell) -> list[int]:
    """A cell's ``state_size`` as a list (``[h]`` or ``[h, c, ...]``)."""
    size = cell.state_size
    return [int(s) for s in size] if isinstance(size, (list, tuple)) else [int(size)]


class StepCell(keras.layers.Layer, DropoutRNNCell):
    """Base of seqpipe's step cells (layers with ``state_size`` and ``call(inputs, states, training)``); one state
    ``units`` wide unless a cell sets ``state_size``, every state zero at the start.

    Args:
        units: positive integer, dimensionality of the output space.
        dropout: float between 0 and 1, fraction of the inputs to drop (one mask for the whole sequence).
        recurrent_dropout: float between 0 and 1, fraction of the recurrent input to drop (one mask for the sequence).
        seed: random seed for dropout.
    """

    def __init__(self, units, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        if units <= 0:
            raise ValueError(f"Received an invalid value for argument `units`, expected a positive integer, "
                             f"got {units}.")
        super().__init__(**kwargs)
        self.units = int(units)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = self.units
        self.output_size = self.units

    def add_kernels(self, input_dim, width, kernel_initializer, recurrent_initializer, bias_initializer,
                    trainable=True):
        """Creates ``kernel`` ``(input_dim, width)``, ``recurrent_kernel`` ``(units, width)`` and ``bias``
        ``(width,)``, in that order."""
        self.kernel = self.add_weight(shape=(input_dim, width), name="kernel", initializer=kernel_initializer,
                                      trainable=trainable)
        self.recurrent_kernel = self.add_weight(shape=(self.units, width), name="recurrent_kernel",
                                                initializer=recurrent_initializer, trainable=trainable)
        self.bias = self.add_weight(shape=(width,), name="bias", initializer=bias_initializer, trainable=trainable)

    def dropped(self, inputs, recurrent, training):
        """``inputs`` and the recurrent input times this sequence's dropout masks (while training)."""
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and 0.0 < self.recurrent_dropout < 1.0:
            recurrent = recurrent * self.get_recurrent_dropout_mask(recurrent)
        return inputs, recurrent

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in state_sizes(self)]

    def get_config(self):
        config = {"units": self.units, "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                  "seed": self.seed}
        return {**super().get_config(), **config}


class KernelCell(StepCell):
    """A :class:`StepCell` whose ``kernel`` and ``recurrent_kernel`` (see :meth:`StepCell.add_kernels`) take
    initializers.

    Args:
        kernel_initializer: initializer of ``kernel``. Default: ``"glorot_uniform"``.
        recurrent_initializer: initializer of ``recurrent_kernel``. Default: ``"orthogonal"``.
        **kwargs: those of :class:`StepCell`.
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", **kwargs):
        # Made before the dropout seed generator, as Keras's LSTMCell does: unseeded, each draws its seed from
        # Python's generator, so this order keeps what a seeded run starts from.
        initializers = keras.initializers.get(kernel_initializer), keras.initializers.get(recurrent_initializer)
        super().__init__(units, **kwargs)
        self.kernel_initializer, self.recurrent_initializer = initializers

    def get_config(self):
        config = {"kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                  "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer)}
        return {**super().get_config(), **config}
