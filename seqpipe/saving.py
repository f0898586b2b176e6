"""Load seqpipe's saved Keras models (``export/model.keras``) with Keras's safe mode on.

Importing this module registers every Keras object seqpipe defines (layers, losses, metrics), so
``keras.saving.load_model(path)`` also works after ``import seqpipe.saving``.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil


def register_keras_objects() -> None:
    """Import every module of seqpipe.layers and seqpipe.text, the token losses, and each task's runtime."""
    import seqpipe.layers
    import seqpipe.text
    from seqpipe.tasks import TASKS

    for package in (seqpipe.layers, seqpipe.text):
        for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    importlib.import_module("seqpipe.train.losses")
    for name in TASKS.names():
        runtime = f"{TASKS.get(name).__module__}.runtime"
        if importlib.util.find_spec(runtime) is not None:
            importlib.import_module(runtime)


def load_model(path, *, compile: bool = False):
    """``keras.saving.load_model`` with safe mode on (no code in the file runs) and seqpipe's objects registered."""
    import keras

    register_keras_objects()
    return keras.saving.load_model(path, compile=compile, safe_mode=True)


register_keras_objects()
