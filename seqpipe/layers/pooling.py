"""Mask-aware pooling of a sequence into one vector."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqpipe")
class MaskedPooling(keras.layers.Layer):
    """Pool ``(batch, time, features)`` into ``(batch, features)``, ignoring padded steps.

    Args:
        mode: ``max``, ``mean``, ``last`` (the last real step; for a bidirectional
            ``concat`` encoder, the forward half at the last real step and the backward
            half at the first step, which equals the layers' final states) or
            ``attention`` (a learned softmax-weighted sum over real steps).
        backward_units: width of the backward half for ``last`` over a bidirectional
            encoder; 0 otherwise.

    Call arguments:
        inputs: the sequence. mask: boolean ``(batch, time)``; all steps count when None.
    """

    MODES = ("max", "mean", "last", "attention")

    def __init__(self, mode: str = "max", backward_units: int = 0, **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"Invalid value for argument mode. Expected one of {self.MODES}. Received: mode={mode}")
        self.mode = mode
        self.backward_units = int(backward_units)
        self.supports_masking = True

    def build(self, input_shape):
        if self.mode == "attention":
            self.score = keras.layers.Dense(1, use_bias=False, name="score")
            self.score.build(input_shape)

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        maskf = ops.cast(ops.expand_dims(mask, -1), inputs.dtype)
        if self.mode == "max":
            very_negative = ops.cast(-1e4 if inputs.dtype == "float16" else -1e9, inputs.dtype)
            return ops.max(ops.where(ops.expand_dims(mask, -1), inputs, very_negative), axis=1)
        if self.mode == "mean":
            total = ops.sum(inputs * maskf, axis=1)
            return total / ops.maximum(ops.sum(maskf, axis=1), ops.cast(1, inputs.dtype))
        if self.mode == "attention":
            logits = ops.squeeze(self.score(inputs), -1)
            logits = ops.where(mask, logits, ops.cast(-1e4, logits.dtype))
            weights = ops.softmax(ops.cast(logits, "float32"), axis=-1)
            return ops.sum(inputs * ops.cast(ops.expand_dims(weights, -1), inputs.dtype), axis=1)
        # last
        last_index = ops.maximum(ops.sum(ops.cast(mask, "int32"), axis=1) - 1, 0)
        last = ops.take_along_axis(inputs, ops.reshape(last_index, (-1, 1, 1)), axis=1)[:, 0, :]
        if self.backward_units:
            split = inputs.shape[-1] - self.backward_units
            return ops.concatenate([last[:, :split], inputs[:, 0, split:]], axis=-1)
        return last

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, backward_units=self.backward_units)
        return config
