"""What a served classification model answers: the rows of ``seqpipe predict`` and of the MLflow model.

Self-contained (numpy, pandas, TensorFlow; never seqpipe): the export copies this file into the MLflow model,
whose server imports it where seqpipe is not installed. ``INPUT`` names the request's column, ``PARAMS``
the request parameters (none here).

A text with no token in the vocabulary (empty, spaces only, or only unknown words) has no prediction:
``label`` is "" and ``confidence`` and every ``p_<label>`` are NaN (null in JSON); ``known_tokens`` says
how many of the text's tokens the model knows.
"""

INPUT, INPUT_TYPE, PARAMS = "text", "string", {}


def predict(model, inputs: list, meta: dict, params: dict):
    """label, confidence, p_<label> per label, known_tokens: one row per input."""
    import pandas as pd
    import tensorflow as tf

    out = model.signatures["serving_default"](text=tf.constant(inputs, tf.string))
    labels = meta.get("labels")
    probs = out["probabilities"].numpy()
    table = pd.DataFrame({"label": [b.decode("utf-8") for b in out["label"].numpy()],
                          "confidence": probs.max(axis=1)})
    for i in range(probs.shape[1]):
        table[f"p_{labels[i] if labels else i}"] = probs[:, i]
    table["known_tokens"] = out["known_tokens"].numpy()
    return table
