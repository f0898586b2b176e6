"""Load seqpipe's saved Keras models (``export/model.keras``) with Keras's safe mode on.

Importing this module registers every Keras object seqpipe defines (layers, losses, metrics), so
``keras.saving.load_model(path)`` also works after ``import seqpipe.saving``.
"""

from __future__ import annotations

import importlib

KERAS_MODULES = ("seqpipe.layers.attention", "seqpipe.layers.char_words", "seqpipe.layers.crf", "seqpipe.layers.decoder",
                 "seqpipe.layers.masks", "seqpipe.layers.pooling", "seqpipe.text.chars", "seqpipe.text.encoder",
                 "seqpipe.train.losses", "seqpipe.tasks.tagging.runtime")


def register_keras_objects() -> None:
    for name in KERAS_MODULES:
        importlib.import_module(name)


def load_model(path, *, compile: bool = False):
    """``keras.saving.load_model`` with safe mode on (no code in the file runs) and seqpipe's objects registered."""
    import keras

    register_keras_objects()
    return keras.saving.load_model(path, compile=compile, safe_mode=True)


register_keras_objects()
