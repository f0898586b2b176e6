"""FusedLSTM / FusedGRU (the CPU loops of the ``lstm`` / ``gru`` kinds at >= 512 units) against Keras's layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqpipe.cells import get_cell
from seqpipe.cells.keras_cells.fused_gru import FusedGRU
from seqpipe.cells.keras_cells.fused_lstm import MIN_UNITS, FusedLSTM

B, T, D, H = 4, 7, 5, 6
RNG = np.random.default_rng(0)
X = RNG.standard_normal((B, T, D)).astype("float32")
MASK = np.ones((B, T), bool)
MASK[1, 5:] = False  # right padding
MASK[2, :2] = False  # left padding (before the first real step)
MASK[3, 3] = False  # a hole
H0 = RNG.standard_normal((B, H)).astype("float32")
C0 = RNG.standard_normal((B, H)).astype("float32")
KINDS = {"lstm": (keras.layers.LSTM, FusedLSTM), "gru": (keras.layers.GRU, FusedGRU)}


def pair(kind="lstm", **kwargs):
    ref, new = (cls(H, return_state=True, **kwargs) for cls in KINDS[kind])
    ref.build((B, T, D))
    new.build((B, T, D))
    weights = [RNG.standard_normal(w.shape).astype("float32") * 0.5 for w in ref.get_weights()]
    ref.set_weights(weights)
    new.set_weights(weights)
    return ref, new


def assert_close(expected, actual):
    assert len(expected) == len(actual)
    for a, b in zip(expected, actual):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-5)


def outputs_and_grads(layer, mask, initial, graph):
    x, h0, c0 = tf.constant(X), tf.constant(H0), tf.constant(C0)

    def run():
        with tf.GradientTape() as tape:
            tape.watch([x, h0, c0])
            states = [h0, c0] if isinstance(layer, keras.layers.LSTM) else [h0]
            outs = layer(x, initial_state=states if initial else None,
                         mask=None if mask is None else tf.constant(mask))
            # a loss that weighs every output and state differently
            loss = sum(tf.reduce_sum(o * tf.sin(tf.reshape(tf.range(tf.size(o), dtype=o.dtype), tf.shape(o)) + k))
                       for k, o in enumerate(outs))
        return outs, tape.gradient(loss, [x, h0, c0, *layer.trainable_weights])

    outs, grads = tf.function(run)() if graph else run()
    return [np.asarray(o) for o in outs], [None if g is None else np.asarray(g) for g in grads]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_outputs_and_gradients_equal_keras(kind, return_sequences, go_backwards, masked, zero_output_for_mask):
    ref, new = pair(kind, return_sequences=return_sequences, go_backwards=go_backwards,
                    zero_output_for_mask=zero_output_for_mask)
    mask = MASK if masked else None
    states = 2 if kind == "lstm" else 1
    for initial in (True, False):
        (ro, rg), (no, ng) = (outputs_and_grads(layer, mask, initial, graph=False) for layer in (ref, new))
        assert sum(g is not None for g in ng) == 4 + (states if initial else 0)  # x, (states), kernels, bias
        assert_close(ro + rg, no + ng)


@pytest.mark.parametrize("kind", KINDS)
def test_graph_mode_and_bidirectional_equal_keras(kind):
    layers = []
    for cls in KINDS[kind]:
        keras.utils.set_random_seed(1)
        layers.append(keras.layers.Bidirectional(cls(H, return_sequences=True, return_state=True)))
    for layer in layers:
        layer.build((B, T, D))
    layers[1].set_weights(layers[0].get_weights())
    for mask in (None, MASK):
        (ro, rg), (no, ng) = (outputs_and_grads(layer, mask, False, graph=True) for layer in layers)
        assert len(ro) == len(no) == (5 if kind == "lstm" else 3)
        assert_close(ro + rg, no + ng)


@pytest.mark.parametrize("kind", KINDS)
def test_training_step_matches_keras(kind):
    """One SGD step of a compiled model (Keras's train function, graph mode) leaves equal weights."""
    models = []
    for cls in KINDS[kind]:
        keras.utils.set_random_seed(2)
        x = keras.Input((T, D))
        model = keras.Model(x, cls(H, return_sequences=True)(keras.layers.Masking()(x)))
        model.compile(keras.optimizers.SGD(0.1), "mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    x = X.copy()
    x[1, 5:] = 0.0  # masked by Masking
    y = RNG.standard_normal((B, T, H)).astype("float32")
    losses = [m.train_on_batch(x, y) for m in models]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip_and_keras_checkpoints(kind, tmp_path):
    plain_cls, fused_cls = KINDS[kind]
    keras.utils.set_random_seed(3)
    x = keras.Input((T, D))
    model = keras.Model(x, fused_cls(H, return_sequences=True, name="enc")(x))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe mode: FusedLSTM is registered (package seqpipe)
    assert type(loaded.get_layer("enc")) is fused_cls
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)
    # a checkpoint of the plain Keras layer loads into the fused one and gives the same outputs
    plain = keras.Model(x, plain_cls(H, return_sequences=True, name="enc")(x))
    plain.save_weights(tmp_path / "plain.weights.h5")
    model.load_weights(tmp_path / "plain.weights.h5")
    np.testing.assert_allclose(model.predict(X, verbose=0), plain.predict(X, verbose=0), atol=1e-5)
    plain.load_weights(tmp_path / "plain.weights.h5")  # and back: the same file layout
    model.save_weights(tmp_path / "fused.weights.h5")
    plain.load_weights(tmp_path / "fused.weights.h5")


def test_default_names_are_keras_names():
    assert FusedLSTM(3).name.startswith("lstm")
    assert FusedGRU(3).name.startswith("gru")
    assert FusedLSTM(3, name="x").name == "x"


def test_lstm_kind_builds_fused_layer_only_when_wide_on_cpu():
    kind = get_cell("lstm")
    wide = kind.layer(MIN_UNITS)
    assert type(wide) is FusedLSTM and isinstance(wide, keras.layers.LSTM)
    assert type(kind.layer(MIN_UNITS - 1)) is keras.layers.LSTM
    assert type(kind.layer(MIN_UNITS, recurrent_dropout=0.1)) is keras.layers.LSTM
    biased = get_cell({"kind": "lstm", "forget_bias": 2.5}).layer(MIN_UNITS)
    assert type(biased) is FusedLSTM
    biased.build((2, 3, 4))
    np.testing.assert_allclose(biased.cell.bias.numpy()[MIN_UNITS:2 * MIN_UNITS], 2.5)
    assert kind.cudnn_eligible() == (True, "tanh/sigmoid, no recurrent dropout, right padding")
    gru = get_cell("gru")
    assert type(gru.layer(MIN_UNITS)) is FusedGRU and isinstance(gru.layer(MIN_UNITS), keras.layers.GRU)
    assert type(gru.layer(MIN_UNITS - 1)) is keras.layers.GRU
    assert type(gru.layer(MIN_UNITS, recurrent_dropout=0.1)) is keras.layers.GRU


@pytest.mark.parametrize("kind", KINDS)
def test_falls_back_to_keras_loop_with_recurrent_dropout_or_unroll(kind):
    for kwargs in ({"recurrent_dropout": 0.3}, {"unroll": True}, *([{"reset_after": False}] if kind == "gru" else [])):
        layer = KINDS[kind][1](H, **kwargs)
        layer.build((B, T, D))
        assert not layer._fused(training=True)
        assert layer(X, training=True).shape == (B, H)


@pytest.mark.parametrize("kind", KINDS)
def test_mixed_bfloat16_runs_close_to_float32(kind):
    ref, new = pair(kind, return_sequences=True)
    expected = ref(X)[0].numpy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = KINDS[kind][1](H, return_sequences=True, return_state=True)
        layer.build((B, T, D))
        layer.set_weights(new.get_weights())
        x = tf.constant(X)
        with tf.GradientTape() as tape:
            out = layer(x)[0]
            loss = tf.reduce_sum(tf.cast(out, "float32"))
        grads = tape.gradient(loss, layer.trainable_weights)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(out, "float32").numpy(), expected, atol=0.05)
    assert all(np.isfinite(g.numpy()).all() for g in grads)
