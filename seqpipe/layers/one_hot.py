"""One-hot token inputs: each id becomes a vector of the vocabulary size, padding (id 0) all zeros and masked."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="seqpipe")
class OneHot(keras.layers.Layer):
    """Token ids ``(batch, time)`` -> one-hot vectors ``(batch, time, depth)``; no weights.

    Id ``i > 0`` is ``keras.ops.one_hot(i, depth)``; id 0 (padding) is all zeros, and with
    ``mask_zero`` it is masked like ``keras.layers.Embedding(mask_zero=True)`` masks it.
    """

    def __init__(self, depth: int, mask_zero: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.depth = int(depth)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = True

    def call(self, ids):
        ids = ops.cast(ids, "int32")
        vectors = ops.one_hot(ids, self.depth, dtype=self.compute_dtype)
        return vectors * ops.cast(ops.expand_dims(ops.not_equal(ids, 0), -1), self.compute_dtype)

    def compute_mask(self, ids, mask=None):
        return ops.not_equal(ids, 0) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.depth)

    def get_config(self):
        config = super().get_config()
        config.update(depth=self.depth, mask_zero=self.mask_zero)
        return config
