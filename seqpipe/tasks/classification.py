"""Sequence classification: label ids, batched prediction and the serving signature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.data.batching import token_dataset
from seqpipe.errors import DataError


def label_ids(frame: pd.DataFrame, labels: list[str], split: str) -> np.ndarray:
    """Map label strings to ids; a label unseen in training is an error naming the row."""
    index = {label: i for i, label in enumerate(labels)}
    ids = frame["label"].map(index)
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataError(
            f"{split} split row {row + 1}: label {frame['label'].iloc[row]!r} does not occur in the "
            f"training split; known labels: {', '.join(labels)}"
        )
    return ids.to_numpy(dtype="int32")


def predict_proba(model, encoder, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """Class probabilities for raw strings, in input order."""
    ids = encoder.tokenize(tf.constant(texts))
    ds = token_dataset(ids, np.zeros(len(texts), "int32"), batch_size).map(lambda x, y: x)
    return model.predict(ds, verbose=0).astype("float32")


def serving_function(model, encoder, labels: list[str]):
    """``text (batch,) -> {label, label_id, probabilities}`` for a SavedModel signature."""
    names = tf.constant(labels)

    def serve(text):
        probabilities = tf.cast(model(encoder(text), training=False), tf.float32)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"label": tf.gather(names, label_id), "label_id": label_id, "probabilities": probabilities}

    return serve
