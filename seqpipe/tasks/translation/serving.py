"""What a served translation model answers: the rows of ``seqpipe predict`` and of the MLflow model.

Self-contained (numpy, pandas, TensorFlow; never seqpipe): the export copies this file into the MLflow model,
whose server imports it where seqpipe is not installed.

A text with no token in the source vocabulary (empty, spaces only, or only unknown words) is not
translated: ``translation`` is "" and ``score`` NaN (null in JSON); ``known_tokens`` says how many of the
text's tokens the model knows. With ``n_best`` K in the export, the columns ``n_best`` and
``n_best_scores`` hold the K best translations and their scores (``seqpipe predict --n-best K`` shows them
one per row).
"""

INPUT, INPUT_TYPE, PARAMS = "text", "string", {}
LISTS = ("n_best", "n_best_scores")  # list columns: one list per input


def predict(model, inputs: list, meta: dict, params: dict):
    """translation, score, known_tokens (and the n-best lists), one row per input."""
    import pandas as pd
    import tensorflow as tf

    out = {k: v.numpy() for k, v in model.signatures["translate"](text=tf.constant(inputs, tf.string)).items()}
    table = pd.DataFrame({"translation": [b.decode("utf-8") for b in out["translation"]], "score": out["score"],
                          "known_tokens": out["known_tokens"]})
    if "n_best" in out:
        table["n_best"] = [[b.decode("utf-8") for b in row] for row in out["n_best"]]
        table["n_best_scores"] = [row.tolist() for row in out["n_best_scores"]]
    return table
