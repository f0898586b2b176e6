"""Leaky-integrator units (Jaeger et al. 2007; Goodfellow et al. 2016, section 10.9.2), at one or several time
scales, with fixed or learned time constants."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from seqpipe.cells.keras_cells.base import KernelCell

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


class LeakyUnits:
    """Mixed into step cells of leaky units with one state ``h`` (the leaky RNN, the echo state network)::

        h_t = integrate(h_{t-1}, tanh(W x_t + U h_{t-1} + b))

    ``kernel`` W, ``recurrent_kernel`` U and ``bias`` b are the cell's; recurrent dropout applies inside the ``tanh``
    only. A cell gives :meth:`integrate`."""

    def integrate(self, h_tm1, candidate):
        """The new state from the previous one and the candidate ``tanh(...)``."""
        raise NotImplementedError

    def call(self, inputs, states, training=False):
        h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
        inputs, h_in = self.dropped(inputs, h_tm1, training)
        candidate = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(h_in, self.recurrent_kernel) + self.bias)
        h = self.integrate(h_tm1, candidate)
        return h, ([h] if isinstance(states, (list, tuple)) else h)


@keras.saving.register_keras_serializable(package="seqpipe")
class LeakyRNNCell(LeakyUnits, KernelCell):
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

    def __init__(self, units, time_constants=10.0, learn_time_constants=False, **kwargs):
        super().__init__(units, **kwargs)
        if isinstance(time_constants, (list, tuple)):
            time_constants = [float(v) for v in time_constants]
            time_constants = time_constants[0] if len(time_constants) == 1 else time_constants
        self.time_constants = time_constants if isinstance(time_constants, list) else float(time_constants)
        self.initial_taus = unit_time_constants(self.time_constants, self.units)
        self.learn_time_constants = bool(learn_time_constants)

    def build(self, input_shape):
        super().build(input_shape)
        self.add_kernels(input_shape[-1], self.units, self.kernel_initializer, self.recurrent_initializer, "zeros")
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

    def integrate(self, h_tm1, candidate):
        leak = ops.cast(1.0 / self.unit_time_constants(), candidate.dtype)
        return (1.0 - leak) * h_tm1 + leak * candidate

    def get_config(self):
        config = {"time_constants": self.time_constants, "learn_time_constants": self.learn_time_constants}
        return {**super().get_config(), **config}
