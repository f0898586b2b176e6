"""A stand-in for the run context and a tiny model, to drive ``fit_model`` in-process in milliseconds."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest


class Recorder:
    """Tracker stand-in: keeps what is logged."""

    def __init__(self):
        self.metrics, self.tags, self.artifacts = [], {}, []

    def log_metrics(self, metrics, step=None):
        self.metrics.append((step, dict(metrics)))

    def set_tags(self, tags):
        self.tags.update(tags)

    def log_artifact(self, path, artifact_path=None):
        self.artifacts.append(path)

    def last(self, name):
        return [m[name] for _, m in self.metrics if name in m][-1]


class LogRecorder(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def make_context(folder, resume=False):
    def path(*parts):
        p = folder.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    log = logging.getLogger(f"seqpipe.test.{folder.name}")
    log.setLevel(logging.INFO)
    handler = LogRecorder()
    log.handlers = [handler]
    log.propagate = False
    return SimpleNamespace(path=path, tracker=Recorder(), log=log, lines=handler.lines, resume=resume,
                           replay_history=False, progress=False, config=SimpleNamespace(task="toy"))


@pytest.fixture
def context():
    return make_context


def train_config(**overrides):
    """A validated TrainConfig (the generic keys only)."""
    from seqpipe.stages.train import TrainConfig

    return TrainConfig.model_validate({"epochs": 3, "batch_size": 8, "monitor": "val_loss", **overrides})


@pytest.fixture
def config():
    return train_config


def toy_model(seed: int = 0, dropout: float = 0.2):
    """A compiled two-layer regression model with dropout (so the seed generator state matters)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(6, activation="tanh")(inputs)
    x = keras.layers.Dropout(dropout)(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


def toy_data(n: int = 48, batch: int = 4, seed: int = 0):
    """(EpochData over n rows in batches of ``batch``, a validation dataset)."""
    import tensorflow as tf

    from seqpipe.data.batching import EpochData, by_epoch

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], "float32") + 0.1).astype("float32")
    xt, yt = tf.constant(x), tf.constant(y)
    train = EpochData(by_epoch(lambda i: (xt[i], yt[i]), n, lambda ds: ds.batch(batch), seed=seed), -(-n // batch))
    valid = tf.data.Dataset.from_tensor_slices((x[:16], y[:16])).batch(8)
    return train, valid


@pytest.fixture
def toy():
    return SimpleNamespace(model=toy_model, data=toy_data)
