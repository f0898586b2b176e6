"""Leaky-integrator units (Jaeger et al. 2007; Goodfellow et al. 2016, section 10.9.2), at one or several time
scales, with fixed or learned time constants."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

# Keras's RNN layer prepares the dropout masks of cells that derive from this (Keras's own cells do).
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

MIN_LEARNED_OFFSET = 1e-3  # a learned tau starts at least this far above 1 (softplus^-1(0) is -inf)


def unit_time_constants(time_constants, units: int) -> np.ndarray:
    """Each unit's tau: one value for all, or the units split into ``len(time_constants)`` groups as equal as
    possible (the first groups get the extra units), one value per group."""
    values = [float(v) for v in (time_constants if isinstance(time_constants, (list, tuple)) else [time_constants])]
    if not values or min(values) < 1:
        raise ValueError(f"time constants must be >= 1; got {time_constants}")
    if units < len(values):
        raise ValueError(f"{len(values)} time constants need at least as many units; got units={units}")
    return np.concatenate([np.full(len(group), v) for group, v in zip(np.array_split(np.arange(units), len(values)),
                                                                        values)])


def softplus_inverse(y: np.ndarray) -> np.ndarray:
    """x with softplus(x) = log(1 + exp(x)) = y (y > 0), stable for large y."""
    return y + np.log(-np.expm1(-y))


@keras.saving.register_keras_serializable(package="seqpipe")
class LeakyRNNCell(keras.layers.Layer, DropoutRNNCell):
    """Cell class of leaky-integrator units: every unit keeps a share of its previous value::

        h_t = (1 - 1/tau) * h_{t-1} + (1/tau) * tanh(W x_t + U h_{t-1} + b)

    with one time constant ``tau >= 1`` per unit (``tau = 1`` is the Elman RNN; a unit with ``tau = 100``
    averages over about 100 steps). With several time constants the units are split into as many groups.
    Learned time constants are ``tau = 1 + softplus(w)``, so they stay >= 1; ``w`` starts where ``tau`` equals
    the given value (at least ``1 + 1e-3``).

    Args:
        units: positive integer, dimensionality of the output space.
        time_constants: a number >= 1 for every unit, or a list of them, one per group of units.
        learn_time_constants: Boolean; learn each unit's tau (one trainable weight ``time_constant_logit``).
        kernel_initializer: initializer of ``kernel``. Default: ``"glorot_uniform"``.
        recurrent_initializer: initializer of ``recurrent_kernel``. Default: ``"orthogonal"``.
        dropout: float between 0 and 1, fraction of the inputs to drop (one mask for the whole sequence).
        recurrent_dropout: float between 0 and 1, fraction of ``h_{t-1}`` to drop inside the ``tanh``.
        seed: random seed for dropout.

    Call arguments:
        inputs: a 2D tensor ``(batch, features)``.
        states: ``[h]`` (or ``h``), the previous output ``(batch, units)``.
        training: Python boolean; only dropout depends on it.
    """

    def __init__(self, units, time_constants=10.0, learn_time_constants=False, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        if units <= 0:
            raise ValueError(f"Received an invalid value for argument `units`, expected a positive integer, "
                             f"got {units}.")
        super().__init__(**kwargs)
        self.units = int(units)
        if isinstance(time_constants, (list, tuple)):
            time_constants = [float(v) for v in time_constants]
            time_constants = time_constants[0] if len(time_constants) == 1 else time_constants
        self.time_constants = time_constants if isinstance(time_constants, list) else float(time_constants)
        self.initial_taus = unit_time_constants(self.time_constants, self.units)
        self.learn_time_constants = bool(learn_time_constants)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape):
        super().build(input_shape)
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel",
                                      initializer=self.kernel_initializer)
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel",
                                                initializer=self.recurrent_initializer)
        self.bias = self.add_weight(shape=(self.units,), name="bias", initializer="zeros")
        if self.learn_time_constants:
            logits = softplus_inverse(np.maximum(self.initial_taus - 1.0, MIN_LEARNED_OFFSET))
            self.time_constant_logit = self.add_weight(
                shape=(self.units,), name="time_constant_logit",
                initializer=lambda shape, dtype=None: ops.convert_to_tensor(logits, dtype or "float32"))

    def unit_time_constants(self):
        """Each unit's current tau, ``(units,)`` (float32)."""
        if self.learn_time_constants:
            return 1.0 + ops.softplus(ops.cast(self.time_constant_logit, "float32"))
        return ops.convert_to_tensor(self.initial_taus, "float32")

    def call(self, inputs, states, training=False):
        h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
        h_in = h_tm1
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_in = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
        candidate = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(h_in, self.recurrent_kernel) + self.bias)
        leak = ops.cast(1.0 / self.unit_time_constants(), candidate.dtype)
        h = (1.0 - leak) * h_tm1 + leak * candidate
        return h, ([h] if isinstance(states, (list, tuple)) else h)

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = {
            "units": self.units,
            "time_constants": self.time_constants,
            "learn_time_constants": self.learn_time_constants,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
