"""What a served captioning model answers: the rows of ``seqpipe predict`` and of the MLflow model.

Self-contained (numpy, pandas, TensorFlow; never seqpipe): the export copies this file into the MLflow model,
whose server imports it where seqpipe is not installed. The request's ``image`` column holds the bytes
of image files (base64 in JSON, as MLflow writes binary columns); anything but a PNG, JPEG, GIF or BMP
file is refused naming its row. With ``n_best`` K in the export, the columns ``n_best`` and
``n_best_scores`` hold the K best captions and their scores.
"""

INPUT, INPUT_TYPE, PARAMS = "image", "binary", {}
LISTS = ("n_best", "n_best_scores")  # list columns: one list per input
BATCH = 64
SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP"}


def image_kind(data: bytes) -> str | None:
    """PNG, JPEG, GIF or BMP from the file's first bytes; None for anything else."""
    return next((kind for magic, kind in SIGNATURES.items() if data[:len(magic)] == magic), None)


def predict(model, inputs: list, meta: dict, params: dict):
    """caption and score (and the n-best lists), one row per image."""
    import numpy as np
    import pandas as pd
    import tensorflow as tf

    for row, data in enumerate(inputs, 1):
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError(f"row {row}: image is a {type(data).__name__}; expected the bytes of an image file "
                             "(base64 in JSON)")
        if image_kind(bytes(data)) is None:
            what = "empty" if not data else f"not an image (it starts with {bytes(data[:8])!r})"
            raise ValueError(f"row {row}: image is {what}; expected a PNG, JPEG, GIF or BMP file")
    outputs: dict = {}
    for start in range(0, len(inputs), BATCH):
        try:
            out = model.signatures["caption"](image=tf.constant([bytes(d) for d in inputs[start:start + BATCH]]))
        except tf.errors.InvalidArgumentError as exc:
            raise ValueError(f"rows {start + 1}-{min(start + BATCH, len(inputs))}: an image could not be decoded "
                             f"({exc.message.splitlines()[0]}); expected PNG, JPEG, GIF or BMP files") from None
        for name, tensor in out.items():
            outputs.setdefault(name, []).append(tensor.numpy())
    out = {name: np.concatenate(arrays) for name, arrays in outputs.items()}
    table = pd.DataFrame({"caption": [b.decode("utf-8") for b in out["caption"]], "score": out["score"]})
    if "n_best" in out:
        table["n_best"] = [[b.decode("utf-8") for b in row] for row in out["n_best"]]
        table["n_best_scores"] = [row.tolist() for row in out["n_best_scores"]]
    return table
