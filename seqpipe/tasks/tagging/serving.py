"""What a served tagger answers: the rows of ``seqpipe predict`` and of the MLflow model.

Self-contained (numpy, pandas, TensorFlow; never seqpipe): the export copies this file into the MLflow model,
whose server imports it where seqpipe is not installed.

Every whitespace-separated token gets a tag, unknown words included (the tagger reads them from their
context, and from their characters with ``embed.chars``; ``known_tokens`` says how many were in the
vocabulary). An empty text has no tokens and no tags.
"""

INPUT, INPUT_TYPE, PARAMS = "text", "string", {}


def predict(model, inputs: list, meta: dict, params: dict):
    """tokens and tags (space-joined, one tag per token) and known_tokens, one row per input."""
    import pandas as pd
    import tensorflow as tf

    out = model.signatures["serving_default"](text=tf.constant(inputs, tf.string))
    lengths = out["length"].numpy()

    def joined(key):
        return [" ".join(b.decode("utf-8") for b in row[:n]) for row, n in zip(out[key].numpy(), lengths)]

    return pd.DataFrame({"tokens": joined("tokens"), "tags": joined("tags"),
                         "known_tokens": out["known_tokens"].numpy()})
