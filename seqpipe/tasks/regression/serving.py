"""What a served regression model answers: the rows of ``seqpipe predict`` and of the MLflow model.

Self-contained (numpy, pandas, TensorFlow; never seqpipe): the export copies this file into the MLflow model,
whose server imports it where seqpipe is not installed.

A text with no token in the vocabulary (empty, spaces only, or only unknown tokens) has no prediction:
``value`` is NaN (null in JSON); ``known_tokens`` says how many of the text's tokens the model knows.
"""

INPUT, INPUT_TYPE, PARAMS = "text", "string", {}


def predict(model, inputs: list, meta: dict, params: dict):
    """value and known_tokens, one row per input."""
    import pandas as pd
    import tensorflow as tf

    out = model.signatures["serving_default"](text=tf.constant(inputs, tf.string))
    return pd.DataFrame({"value": out["value"].numpy(), "known_tokens": out["known_tokens"].numpy()})
