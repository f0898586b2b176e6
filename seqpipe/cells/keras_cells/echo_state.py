"""An echo state network reservoir (Jaeger 2001; Lukosevicius 2012, "A practical guide to applying echo state
networks"): fixed random weights, saved with the model."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from seqpipe.cells.keras_cells.base import StepCell
from seqpipe.cells.keras_cells.leaky_rnn import LeakyUnits


def reservoir(units: int, input_dim: int, *, spectral_radius: float, input_scaling: float, bias_scaling: float,
              sparsity: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W_in (input_dim, units), W (units, units), b (units,))`` drawn from ``seed`` (float64).

    ``W`` first (so the reservoir does not depend on the input width): U(-1, 1) entries, each zero with
    probability ``sparsity``, rescaled so that its largest absolute eigenvalue is ``spectral_radius`` (left as
    it is when all its eigenvalues are 0, e.g. all zero). Then ``W_in`` from U(-1, 1) times ``input_scaling``
    and ``b`` from U(-1, 1) times ``bias_scaling``.
    """
    rng = np.random.default_rng(seed)
    w = rng.uniform(-1.0, 1.0, (units, units))
    w[rng.random((units, units)) < sparsity] = 0.0
    radius = float(np.max(np.abs(np.linalg.eigvals(w))))
    if radius > 1e-12:
        w *= spectral_radius / radius
    w_in = rng.uniform(-1.0, 1.0, (input_dim, units)) * input_scaling
    b = rng.uniform(-1.0, 1.0, (units,)) * bias_scaling
    return w_in, w, b


def _constant(value: np.ndarray):
    return lambda shape, dtype=None: ops.convert_to_tensor(value, dtype or "float32")


@keras.saving.register_keras_serializable(package="seqpipe")
class EchoStateCell(LeakyUnits, StepCell):
    """Cell class of an echo state network reservoir with leaky units::

        h_t = (1 - a) * h_{t-1} + a * tanh(W_in x_t + W h_{t-1} + b)

    ``W`` is sparse and random with spectral radius ``spectral_radius``, ``W_in`` and ``b`` random (see
    :func:`reservoir`). All three are non-trainable weights: only what reads the reservoir learns. They are drawn
    with numpy from ``seed`` when the cell is built and saved with the model, so a loaded model gives the same
    outputs; a cell built from the same config (same seed) has the same reservoir.

    Args:
        units: positive integer, the reservoir size.
        spectral_radius: largest absolute eigenvalue of ``W``. Default: 0.9.
        input_scaling: scale of ``W_in``. Default: 1.
        bias_scaling: scale of ``b``; None: ``input_scaling``.
        sparsity: share of zero entries of ``W``, in [0, 1). Default: 0.9.
        leak_rate: ``a`` in (0, 1]. Default: 1 (no leak).
        seed: seed of the random weights; None draws one from numpy's global generator (seeded by
            ``keras.utils.set_random_seed``) and keeps it in the config.
        dropout: float between 0 and 1, fraction of the inputs to drop (one mask for the whole sequence).
        recurrent_dropout: float between 0 and 1, fraction of ``h_{t-1}`` to drop inside the ``tanh``.

    Call arguments:
        inputs: a 2D tensor ``(batch, features)``.
        states: ``[h]`` (or ``h``), the previous reservoir state ``(batch, units)``.
        training: Python boolean; only dropout depends on it.
    """

    def __init__(self, units, spectral_radius=0.9, input_scaling=1.0, bias_scaling=None, sparsity=0.9,
                 leak_rate=1.0, seed=None, **kwargs):
        if not 0.0 < leak_rate <= 1.0 or not 0.0 <= sparsity < 1.0 or spectral_radius <= 0:
            raise ValueError(f"EchoStateCell needs 0 < leak_rate <= 1, 0 <= sparsity < 1 and spectral_radius > 0; got "
                             f"{leak_rate}, {sparsity}, {spectral_radius}")
        super().__init__(units, seed=int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed), **kwargs)
        self.spectral_radius, self.input_scaling = float(spectral_radius), float(input_scaling)
        self.bias_scaling = None if bias_scaling is None else float(bias_scaling)
        self.sparsity, self.leak_rate = float(sparsity), float(leak_rate)

    def build(self, input_shape):
        super().build(input_shape)
        w_in, w, b = reservoir(self.units, input_shape[-1], spectral_radius=self.spectral_radius,
                               input_scaling=self.input_scaling,
                               bias_scaling=self.input_scaling if self.bias_scaling is None else self.bias_scaling,
                               sparsity=self.sparsity, seed=self.seed)
        self.add_kernels(input_shape[-1], self.units, _constant(w_in), _constant(w), _constant(b), trainable=False)

    def integrate(self, h_tm1, candidate):
        return candidate if self.leak_rate == 1.0 else (1.0 - self.leak_rate) * h_tm1 + self.leak_rate * candidate

    def get_config(self):
        config = {
            "spectral_radius": self.spectral_radius,
            "input_scaling": self.input_scaling,
            "bias_scaling": self.bias_scaling,
            "sparsity": self.sparsity,
            "leak_rate": self.leak_rate,
        }
        return {**super().get_config(), **config}
