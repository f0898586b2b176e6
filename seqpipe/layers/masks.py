"""Small serializable layers that replace ``keras.layers.Lambda`` (a Lambda cannot be loaded in safe mode)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="seqpipe")
class NotEqual(keras.layers.Layer):
    """Boolean ``inputs != value`` (e.g. the padding mask of token ids, value 0).

    Args:
        value: the value marked False.
    """

    def __init__(self, value: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.value = int(value)

    def call(self, inputs):
        return keras.ops.not_equal(inputs, self.value)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="bool")

    def get_config(self):
        return {**super().get_config(), "value": self.value}
