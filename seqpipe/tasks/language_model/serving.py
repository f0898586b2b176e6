"""What a served language model answers: the rows of ``seqpipe predict`` and of the MLflow model.

Self-contained (numpy, pandas, TensorFlow; never seqpipe): the export copies this file into the MLflow model,
whose server imports it where seqpipe is not installed. The request parameter ``mode`` chooses:

- ``score`` (the default): per text, ``log_prob`` (nats, the sum over its tokens), ``num_tokens``,
  ``log_prob_per_token``, ``token_log_probs`` (comma-separated) and ``known_tokens`` (tokens in the
  vocabulary; the others are scored as ``[UNK]``, as in training). An empty text has no tokens: log_prob 0
  (the empty sum), log_prob_per_token NaN (null in JSON).
- ``generate``: each text is a prompt (an empty one starts a new text), continued with the export's
  decoding settings: ``generated`` (prompt + continuation), ``continuation`` and its ``log_prob``.
"""

INPUT, INPUT_TYPE, PARAMS = "text", "string", {"mode": "score"}
MODES = ("score", "generate")


def predict(model, inputs: list, meta: dict, params: dict):
    import numpy as np
    import pandas as pd
    import tensorflow as tf

    mode = params.get("mode", PARAMS["mode"])
    if mode not in MODES:
        raise ValueError(f"params.mode: {mode!r} is not a mode of a language model; expected one of "
                         f"{', '.join(MODES)}")
    texts = tf.constant(inputs, tf.string)
    if mode == "generate":
        out = model.signatures["generate"](text=texts)
        return pd.DataFrame({"generated": [b.decode("utf-8", "replace") for b in out["text"].numpy()],
                             "continuation": [b.decode("utf-8", "replace") for b in out["continuation"].numpy()],
                             "log_prob": out["log_prob"].numpy()})
    out = model.signatures["score"](text=texts)
    counts, log_prob = out["num_tokens"].numpy(), out["log_prob"].numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        per_token = np.where(counts > 0, log_prob / counts, np.nan).astype("float32")
    return pd.DataFrame({
        "log_prob": log_prob, "num_tokens": counts, "log_prob_per_token": per_token,
        "token_log_probs": [",".join(f"{v:.4f}" for v in row[:n])
                            for row, n in zip(out["token_log_probs"].numpy(), counts)],
        "known_tokens": out["known_tokens"].numpy()})
