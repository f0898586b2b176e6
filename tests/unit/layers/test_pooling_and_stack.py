import keras
import numpy as np
import pytest
import tensorflow as tf

from seqpipe.cells import cudnn_eligible
from seqpipe.layers.pooling import MaskedPooling
from seqpipe.layers.recurrent import recurrent_stack


def sequences():
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    return x, mask


@pytest.mark.parametrize("mode", MaskedPooling.MODES)
def test_padding_values_do_not_change_the_pooled_vector(mode):
    x, mask = sequences()
    layer = MaskedPooling(mode)
    noisy = x.copy()
    noisy[0, 3:] = 1e3  # garbage in the padded steps
    np.testing.assert_allclose(layer(x, mask=mask).numpy(), layer(noisy, mask=mask).numpy(), atol=1e-6)


def test_pooling_values():
    x, mask = sequences()
    np.testing.assert_allclose(MaskedPooling("mean")(x, mask=mask).numpy()[0], x[0, :3].mean(0), rtol=1e-6)
    np.testing.assert_allclose(MaskedPooling("max")(x, mask=mask).numpy()[0], x[0, :3].max(0), rtol=1e-6)
    np.testing.assert_allclose(MaskedPooling("last")(x, mask=mask).numpy()[0], x[0, 2], rtol=1e-6)
    bi = MaskedPooling("last", backward_units=2)(x, mask=mask).numpy()[0]
    np.testing.assert_allclose(bi, np.concatenate([x[0, 2, :2], x[0, 0, 2:]]), rtol=1e-6)


def test_bad_mode_is_a_keras_style_error():
    with pytest.raises(ValueError, match=r"Invalid value for argument mode. Expected one of .*Received: mode=sum"):
        MaskedPooling("sum")


def test_last_pooling_equals_bidirectional_final_states():
    keras.utils.set_random_seed(1)
    ids = keras.Input(shape=(None,), dtype="int32")
    emb = keras.layers.Embedding(20, 6, mask_zero=True)
    lstm = keras.layers.LSTM(3, return_sequences=True)
    bi = keras.layers.Bidirectional(lstm)
    pooled = MaskedPooling("last", backward_units=3)(bi(emb(ids)))
    model = keras.Model(ids, pooled)
    final = keras.layers.Bidirectional(keras.layers.LSTM(3), weights=None)
    x = np.array([[4, 5, 6, 0, 0], [7, 8, 9, 10, 11]], "int32")
    e = emb(x)
    final.build(e.shape)
    final.set_weights(bi.get_weights())
    np.testing.assert_allclose(model(x).numpy(), final(e, mask=x != 0).numpy(), atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_stack_outputs_at_real_steps_ignore_padding_length(cell):
    keras.utils.set_random_seed(2)
    ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(30, 8, mask_zero=True)(ids)
    y = recurrent_stack(x, cell=cell, units=8, layers=2, bidirectional=True, residual=True, dropout=0.1)
    model = keras.Model(ids, MaskedPooling("mean")(y))
    short = np.array([[3, 4, 5]], "int32")
    padded = np.array([[3, 4, 5, 0, 0, 0, 0]], "int32")
    np.testing.assert_allclose(model(short).numpy(), model(padded).numpy(), atol=1e-6)


def test_residual_adds_only_where_widths_match():
    ids = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(30, 8, mask_zero=True)(ids)
    model = keras.Model(ids, recurrent_stack(x, cell="gru", units=4, layers=3, bidirectional=True, residual=True,
                                             name="e2"))
    adds = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert adds == ["e2_residual_0", "e2_residual_1", "e2_residual_2"]  # 8 == 2 * 4 at every layer
    model = keras.Model(ids, recurrent_stack(x, cell="gru", units=5, layers=3, bidirectional=True, residual=True,
                                             name="e3"))
    adds = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert adds == ["e3_residual_1", "e3_residual_2"]  # first layer: 8 -> 10


def test_cudnn_eligibility():
    assert cudnn_eligible("lstm", 0.0)[0] and cudnn_eligible("gru", 0.0)[0]
    assert cudnn_eligible("rnn", 0.0) == (False, "cell 'rnn' has no cuDNN kernel")
    assert cudnn_eligible("lstm", 0.2) == (False, "recurrent_dropout > 0 disables the cuDNN kernel")


def test_pooling_layer_serializes():
    layer = MaskedPooling("attention", name="p")
    x, mask = sequences()
    out = layer(x, mask=mask)
    clone = MaskedPooling.from_config(layer.get_config())
    clone(x, mask=mask)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(out.numpy(), clone(x, mask=mask).numpy(), atol=1e-6)
    assert tf.is_tensor(out) and out.shape == (2, 4)
