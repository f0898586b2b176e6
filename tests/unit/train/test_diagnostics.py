"""Gradient diagnostics: dLoss/dh_t through the recurrence equals a hand-unrolled RNN's; metrics and files."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqpipe.train.diagnostics import GradientDiagnostics


class Recorder:
    def __init__(self):
        self.metrics, self.artifacts = [], []

    def log_metrics(self, metrics, step=None):
        self.metrics.append((step, metrics))

    def log_artifact(self, path, artifact_path=None):
        self.artifacts.append(path)


def context(tmp_path):
    def path(*parts):
        p = tmp_path.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    return SimpleNamespace(path=path, tracker=Recorder(), log=logging.getLogger("test"))


def model_and_data(cell="SimpleRNN", steps=12):
    keras.utils.set_random_seed(0)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(9, 3, mask_zero=True)(ids)
    x = getattr(keras.layers, cell)(5, return_sequences=True, name="rnn")(x)
    out = keras.layers.Dense(1, name="dense")(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(ids, out)
    model.compile(keras.optimizers.SGD(0.1, clipnorm=1e-3), "mse")
    data = np.random.default_rng(0).integers(1, 9, size=(4, steps)).astype("int32")
    data[1, 8:] = 0  # a shorter row
    return model, data, np.ones((4, 1), "float32")


def test_the_gradient_through_time_equals_a_hand_unrolled_rnn(tmp_path):
    model, x, y = model_and_data()
    diag = GradientDiagnostics(context(tmp_path), (x, y), every=1, clipnorm=1e-3)
    diag.set_model(model)
    diag.on_train_begin()
    diag.on_epoch_begin(0)
    diag.on_train_batch_end(0)
    step, curve = diag.curves[0]
    # the same loss, unrolled by hand so that every h_t is a tensor the tape sees
    embedding, rnn, dense = model.layers[1], model.get_layer("rnn"), model.layers[-1]
    kernel, recurrent, bias = rnn.cell.kernel, rnn.cell.recurrent_kernel, rnn.cell.bias
    mask = x != 0
    with tf.GradientTape() as tape:
        e = embedding(x)
        h = tf.zeros((4, 5))
        hs, outs = [], []
        for t in range(x.shape[1]):
            tape.watch(h)
            new = tf.tanh(e[:, t] @ kernel + h @ recurrent + bias)
            h = tf.where(mask[:, t:t + 1], new, h)
            hs.append(h)
            outs.append(tf.where(mask[:, t:t + 1], h, 0.0))
        pooled = tf.add_n(outs) / tf.reduce_sum(tf.cast(mask, tf.float32), axis=1, keepdims=True)
        loss = tf.reduce_mean((dense(pooled) - y) ** 2)
    grads = tape.gradient(loss, hs)
    norms = np.stack([tf.norm(g, axis=-1).numpy() for g in grads], axis=1)
    expected = np.where(mask, norms, 0).sum(0) / mask.sum(0)
    np.testing.assert_allclose(curve, expected, rtol=1e-4, atol=1e-9)
    (_, metrics), = diag.ctx.tracker.metrics
    assert metrics["diag_grad_ratio"] == pytest.approx(curve[-1] / curve[0])
    assert metrics["diag_clip_rate"] == 1.0  # the global norm is far above clipnorm 0.001
    assert {"diag_grad_norm/rnn", "diag_grad_norm/dense"} <= set(metrics)
    assert not hasattr(rnn.cell, "call") or "perturbed" not in getattr(rnn.cell.call, "__name__", "")  # undone


def test_recordings_every_n_steps_a_csv_and_one_plot_per_epoch(tmp_path):
    model, x, y = model_and_data("LSTM")
    ctx = context(tmp_path)
    model.fit(x, y, epochs=2, batch_size=2, verbose=0,
              callbacks=[GradientDiagnostics(ctx, (x, y), every=2, clipnorm=None)])
    rows = (tmp_path / "diagnostics" / "grad_through_time.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,t,grad_norm" and len(rows) == 1 + 2 * 12  # steps 2 and 4, 12 time steps each
    assert [step for step, _ in ctx.tracker.metrics] == [2, 4]
    pngs = sorted(p.name for p in (tmp_path / "diagnostics").glob("*.png"))
    assert pngs == ["grad_through_time_epoch_01.png", "grad_through_time_epoch_02.png"]


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_the_fused_cpu_loops_give_the_curve_of_keras_layers(tmp_path, name):
    from seqpipe.cells.keras_cells import FusedGRU, FusedLSTM

    fused_class = {"LSTM": FusedLSTM, "GRU": FusedGRU}[name]
    model, x, y = model_and_data(name)
    ids = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(*model.layers[1].embeddings.shape, mask_zero=True)(ids)
    h = fused_class(5, return_sequences=True, name="rnn")(h)
    out = keras.layers.Dense(1, name="dense")(keras.layers.GlobalAveragePooling1D()(h))
    fused = keras.Model(ids, out)
    fused.compile(keras.optimizers.SGD(0.1), "mse")
    fused.set_weights(model.get_weights())
    curves = []
    for m in (model, fused):
        diag = GradientDiagnostics(context(tmp_path / m.name), (x, y), every=1, clipnorm=None)
        diag.set_model(m)
        diag.on_train_begin()
        diag.on_epoch_begin(0)
        diag.on_train_batch_end(0)
        curves.append(diag.curves[0][1])
    assert curves[0].min() > 0  # the keras layer's curve is real
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-4)
    assert "_fused" not in vars(fused.get_layer("rnn"))  # the fused loop is back after recording
