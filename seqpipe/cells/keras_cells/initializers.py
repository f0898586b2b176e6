"""The bias initializer of LSTMs whose forget gate starts at a chosen bias (Keras's own only knows 0 and 1)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqpipe")
class ForgetBias(keras.initializers.Initializer):
    """Bias of an LSTM with Keras's gate order (input, forget, cell, output): ``forget_bias`` on the forget
    gate's quarter, zeros elsewhere.

    ``ForgetBias(1.0)`` gives what ``unit_forget_bias=True`` gives. Pass it as ``bias_initializer`` with
    ``unit_forget_bias=False`` to keep Keras's fused LSTM layer (and its cuDNN kernel) with any forget bias.

    Args:
        forget_bias: the forget gate's initial bias.
    """

    def __init__(self, forget_bias: float = 1.0):
        self.forget_bias = float(forget_bias)

    def __call__(self, shape, dtype=None):
        if len(shape) != 1 or shape[0] % 4:
            raise ValueError(f"ForgetBias initialises a (4 * units,) LSTM bias; got shape {tuple(shape)}")
        units = shape[0] // 4
        dtype = dtype or "float32"
        return ops.concatenate([ops.zeros((units,), dtype), ops.full((units,), self.forget_bias, dtype),
                                ops.zeros((2 * units,), dtype)])

    def get_config(self):
        return {"forget_bias": self.forget_bias}
