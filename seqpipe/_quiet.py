"""Import TensorFlow without its start-up noise (CUDA/oneDNN lines on stderr)."""

from __future__ import annotations

import os


def import_tensorflow():
    """Import tensorflow and tensorflow_text (it registers the ops exported models use; loading a SavedModel
    fails without it) with fd 2 pointed at /dev/null for the import only."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    import sys

    if "tensorflow" in sys.modules and "tensorflow_text" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras  # noqa: F401
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers ops used by exported models)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    tf.get_logger().setLevel("ERROR")
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    return tf
