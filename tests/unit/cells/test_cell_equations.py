"""Each cell computes the equations docs/cells.md gives for it: one step checked against numpy by hand, the gates
against the same step, and the options against what they promise (time scales, spectral radius, frozen weights)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from seqpipe.cells import gate_activations, get_cell
from seqpipe.cells.keras_cells import EchoStateCell, LayerNormLSTMCell, LeakyRNNCell, PeepholeLSTMCell

RNG = np.random.default_rng(0)
B, F, U = 3, 4, 5
X = RNG.normal(size=(B, F)).astype("float32")
H0 = RNG.normal(size=(B, U)).astype("float32")
C0 = RNG.normal(size=(B, U)).astype("float32")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def randomized(cell, input_dim=F, seed=1):
    """``cell`` built, every weight random (so no zero-initialised weight hides a mistake)."""
    cell.build((None, input_dim))
    rng = np.random.default_rng(seed)
    cell.set_weights([(0.5 * rng.standard_normal(w.shape)).astype("float32") for w in cell.get_weights()])
    return cell


def numpy_weights(cell):
    return {w.name: keras.ops.convert_to_numpy(w) for w in cell.weights}


def close(actual, expected, atol=1e-5):
    np.testing.assert_allclose(keras.ops.convert_to_numpy(actual), expected, atol=atol, rtol=1e-5)


# -------------------------------------------------------------------------------- Keras's own cells, seqpipe's rules


def test_default_kinds_build_exactly_the_keras_layers_they_always_built():
    for spec, make in [("lstm", keras.layers.LSTM), ("gru", keras.layers.GRU), ("rnn", keras.layers.SimpleRNN)]:
        keras.utils.set_random_seed(7)
        ours = get_cell(spec).layer(4, return_sequences=True, return_state=True, name="x")
        ours.build((None, None, 3))
        keras.utils.set_random_seed(7)
        theirs = make(4, return_sequences=True, return_state=True, name="x")
        theirs.build((None, None, 3))
        assert type(ours) is make and ours.get_config() == theirs.get_config()
        assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("forget_bias", [1.0, 0.0, 2.5])
def test_lstm_forget_bias_sets_the_forget_quarter_and_keeps_the_fused_layer(forget_bias):
    for layer in (get_cell({"kind": "lstm", "forget_bias": forget_bias}).layer(U),
                  keras.layers.RNN(get_cell({"kind": "lstm", "forget_bias": forget_bias, "peepholes": True}).cell(U)),
                  keras.layers.RNN(get_cell({"kind": "layer_norm_lstm", "forget_bias": forget_bias}).cell(U))):
        layer.build((None, None, F))
        bias = keras.ops.convert_to_numpy(layer.cell.bias)
        np.testing.assert_array_equal(bias, np.r_[np.zeros(U), np.full(U, forget_bias), np.zeros(2 * U)])
    assert isinstance(get_cell({"kind": "lstm", "forget_bias": 2.5}).layer(U), keras.layers.LSTM)


def test_keras_lstm_gates_are_the_ones_its_step_uses():
    cell = randomized(keras.layers.LSTMCell(U))
    w = numpy_weights(cell)
    z = X @ w["kernel"] + H0 @ w["recurrent_kernel"] + w["bias"]
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)  # Keras's order: input, forget, cell, output
    gates = gate_activations(cell, X, [H0, C0])
    assert sorted(gates) == ["forget", "input", "output"]
    close(gates["input"], sigmoid(z_i))
    close(gates["forget"], sigmoid(z_f))
    close(gates["output"], sigmoid(z_o))
    c = sigmoid(z_f) * C0 + sigmoid(z_i) * np.tanh(z_c)
    h, (_, c_keras) = cell(X, [H0, C0])
    close(c_keras, c)
    close(h, sigmoid(z_o) * np.tanh(c))
    close(gate_activations(keras.layers.RNN(cell), X, [H0, C0])["forget"], sigmoid(z_f))  # a layer's cell


@pytest.mark.parametrize("reset_after", [True, False])
def test_keras_gru_gates_are_the_ones_its_step_uses(reset_after):
    cell = randomized(keras.layers.GRUCell(U, reset_after=reset_after))
    w = numpy_weights(cell)
    bias_x, bias_h = (w["bias"][0], w["bias"][1]) if reset_after else (w["bias"], np.zeros(3 * U))
    x_z, x_r, x_h = np.split(X @ w["kernel"] + bias_x, 3, axis=-1)  # Keras's order: update, reset, candidate
    h_z, h_r, h_h = np.split(H0 @ w["recurrent_kernel"] + bias_h, 3, axis=-1)
    z, r = sigmoid(x_z + h_z), sigmoid(x_r + h_r)
    gates = gate_activations(cell, X, [H0])
    assert sorted(gates) == ["reset", "update"]
    close(gates["update"], z)
    close(gates["reset"], r)
    if reset_after:
        candidate = np.tanh(x_h + r * h_h)
    else:
        candidate = np.tanh(x_h + (r * H0) @ w["recurrent_kernel"][:, 2 * U:])
    close(cell(X, [H0])[0], z * H0 + (1 - z) * candidate)


def test_cells_without_gates_say_so():
    for spec in ("rnn", "leaky_rnn", "esn"):
        cell = get_cell(spec).cell(U)
        cell.build((None, F))
        with pytest.raises(TypeError, match="has no gates"):
            gate_activations(cell, X, [H0])


# -------------------------------------------------------------------------------- LSTM variants


def test_peephole_lstm_step_by_hand():
    cell = randomized(PeepholeLSTMCell(U))
    w = numpy_weights(cell)
    z = X @ w["kernel"] + H0 @ w["recurrent_kernel"] + w["bias"]
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
    i = sigmoid(z_i + w["input_gate_peephole"] * C0)  # the input and forget gates see c_{t-1}
    f = sigmoid(z_f + w["forget_gate_peephole"] * C0)
    c = f * C0 + i * np.tanh(z_c)
    o = sigmoid(z_o + w["output_gate_peephole"] * c)  # the output gate sees c_t
    h, (h_state, c_state) = cell(X, [H0, C0])
    close(h, o * np.tanh(c))
    close(h_state, o * np.tanh(c))
    close(c_state, c)
    gates = cell.gate_activations(X, [H0, C0])
    for name, value in (("input", i), ("forget", f), ("output", o)):
        close(gates[name], value)
        close(gate_activations(cell, X, [H0, C0])[name], value)


@pytest.mark.parametrize("make", [PeepholeLSTMCell, LayerNormLSTMCell])
def test_lstm_variants_start_where_keras_lstm_starts_under_a_global_seed(make):
    # unseeded initializers and dropout seed generators draw their seeds from Python's generator: in Keras's order
    # (kernel, recurrent kernel, then dropout), so a seeded run starts from the same weights and dropout masks
    keras.utils.set_random_seed(5)
    theirs = keras.layers.LSTMCell(U, dropout=0.2)
    theirs.build((None, F))
    keras.utils.set_random_seed(5)
    ours = make(U, dropout=0.2)
    ours.build((None, F))
    for a, b in ((ours.kernel, theirs.kernel), (ours.recurrent_kernel, theirs.recurrent_kernel),
                 (ours.seed_generator.state, theirs.seed_generator.state)):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_peephole_lstm_with_zero_peepholes_is_keras_lstm():
    ours = PeepholeLSTMCell(U)  # the peephole weights start at 0
    ours.build((None, F))
    keras_cell = keras.layers.LSTMCell(U)
    keras_cell.build((None, F))
    keras_cell.set_weights(ours.get_weights()[:3])
    close(ours(X, [H0, C0])[0], keras.ops.convert_to_numpy(keras_cell(X, [H0, C0])[0]))


def layer_norm(z, gain, shift=0.0, epsilon=1e-3):
    mean, var = z.mean(-1, keepdims=True), z.var(-1, keepdims=True)
    return gain * (z - mean) / np.sqrt(var + epsilon) + shift


def test_layer_norm_lstm_step_by_hand():
    cell = randomized(LayerNormLSTMCell(U))
    w = numpy_weights(cell)
    # input and recurrent parts normalised separately (Ba et al. 2016, 3.1), then the bias
    z = (layer_norm(X @ w["kernel"], w["input_gain"]) + layer_norm(H0 @ w["recurrent_kernel"], w["recurrent_gain"])
         + w["bias"])
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
    i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o)
    c = f * C0 + i * np.tanh(z_c)
    h = o * np.tanh(layer_norm(c, w["cell_gain"], w["cell_shift"]))  # and the cell state before the output tanh
    out, (_, c_state) = cell(X, [H0, C0])
    close(out, h, atol=1e-4)
    close(c_state, c, atol=1e-4)
    gates = cell.gate_activations(X, [H0, C0])
    close(gates["forget"], f, atol=1e-4)
    close(gates["output"], o, atol=1e-4)


def test_layer_norm_lstm_is_invariant_to_the_scale_of_its_inputs():
    cell = randomized(LayerNormLSTMCell(U))
    a = keras.ops.convert_to_numpy(cell(X, [H0, C0])[0])
    b = keras.ops.convert_to_numpy(cell(X * 50.0, [H0, C0])[0])  # W x is normalised: scaling x changes nothing
    np.testing.assert_allclose(a, b, atol=1e-3)


# -------------------------------------------------------------------------------- leaky integrators


def test_leaky_units_split_into_time_scales_step_by_hand():
    cell = randomized(LeakyRNNCell(U, time_constants=[1, 10]))
    taus = np.array([1, 1, 1, 10, 10], "float32")  # 5 units in 2 groups: 3 then 2
    close(cell.unit_time_constants(), taus)
    w = numpy_weights(cell)
    candidate = np.tanh(X @ w["kernel"] + H0 @ w["recurrent_kernel"] + w["bias"])
    h, [state] = cell(X, [H0])
    close(h, (1 - 1 / taus) * H0 + (1 / taus) * candidate)
    close(state, (1 - 1 / taus) * H0 + (1 / taus) * candidate)
    assert not any("time_constant" in v.name for v in cell.weights)  # fixed taus are not weights


def test_leaky_rnn_draws_its_initializers_seeds_before_its_dropout_seed():
    # as the LSTM variants do (above), so a seeded run starts from the same weights and dropout masks
    keras.utils.set_random_seed(5)
    kernel, recurrent = keras.initializers.get("glorot_uniform"), keras.initializers.get("orthogonal")
    dropout_seed = keras.random.SeedGenerator()
    keras.utils.set_random_seed(5)
    cell = LeakyRNNCell(U, recurrent_dropout=0.2)
    cell.build((None, F))
    close(cell.kernel, keras.ops.convert_to_numpy(kernel((F, U))), atol=0)
    close(cell.recurrent_kernel, keras.ops.convert_to_numpy(recurrent((U, U))), atol=0)
    close(cell.seed_generator.state, keras.ops.convert_to_numpy(dropout_seed.state), atol=0)


def test_leaky_rnn_with_tau_1_is_the_elman_rnn():
    ours = LeakyRNNCell(U, time_constants=1.0)
    ours.build((None, F))
    elman = keras.layers.SimpleRNNCell(U)
    elman.build((None, F))
    elman.set_weights(ours.get_weights())
    close(ours(X, [H0])[0], keras.ops.convert_to_numpy(elman(X, [H0])[0]))


def test_a_unit_forgets_at_the_rate_of_its_time_constant():
    seq = np.zeros((1, 21, F), "float32")
    seq[0, 0] = 1.0  # one pulse, then silence; no recurrent weights, so only the leak carries it
    rnn = keras.layers.RNN(LeakyRNNCell(6, time_constants=[1, 30], recurrent_initializer="zeros"),
                           return_sequences=True)
    out = keras.ops.convert_to_numpy(rnn(seq))[0]
    np.testing.assert_array_equal(out[1:, :3], 0)  # tau = 1: gone at the next step
    np.testing.assert_allclose(out[20, 3:], out[0, 3:] * (1 - 1 / 30) ** 20, rtol=1e-4)  # tau = 30: half is left


def test_learned_time_constants_start_at_the_given_values_stay_above_1_and_train():
    cell = LeakyRNNCell(6, time_constants=[1, 10, 100], learn_time_constants=True)
    cell.build((None, F))
    close(cell.unit_time_constants(), np.array([1.001, 1.001, 10, 10, 100, 100]), atol=1e-3)
    assert [v.name for v in cell.trainable_weights][-1] == "time_constant_logit"
    cell.time_constant_logit.assign(np.full(6, -50.0, "float32"))  # however far training pushes it
    assert keras.ops.convert_to_numpy(cell.unit_time_constants()).min() >= 1.0

    keras.utils.set_random_seed(0)
    layer = keras.layers.RNN(LeakyRNNCell(6, time_constants=[2, 20], learn_time_constants=True))
    x = keras.Input((None, F))
    model = keras.Model(x, keras.layers.Dense(1)(layer(x)))
    model.compile("sgd", "mse")
    before = keras.ops.convert_to_numpy(layer.cell.unit_time_constants())
    model.fit(RNG.normal(size=(8, 5, F)), RNG.normal(size=(8, 1)), epochs=2, verbose=0)
    assert not np.allclose(keras.ops.convert_to_numpy(layer.cell.unit_time_constants()), before)


def test_more_time_constants_than_units_is_an_error():
    with pytest.raises(ValueError, match="3 time constants need at least as many units; got units=2"):
        get_cell({"kind": "leaky_rnn", "time_constants": [1, 10, 100]}).cell(2)


# -------------------------------------------------------------------------------- echo state networks


def test_echo_state_reservoir_is_sparse_scaled_frozen_and_seeded():
    cell = EchoStateCell(200, spectral_radius=0.9, sparsity=0.8, input_scaling=0.5, seed=3)
    cell.build((None, F))
    w = numpy_weights(cell)
    assert cell.trainable_weights == [] and len(cell.non_trainable_weights) == 3
    assert np.max(np.abs(np.linalg.eigvals(w["recurrent_kernel"].astype("float64")))) == pytest.approx(0.9, abs=1e-4)
    assert (w["recurrent_kernel"] == 0).mean() == pytest.approx(0.8, abs=0.02)
    assert np.abs(w["kernel"]).max() <= 0.5 and np.abs(w["bias"]).max() <= 0.5  # bias_scaling: input_scaling
    again = EchoStateCell(200, spectral_radius=0.9, sparsity=0.8, input_scaling=0.5, seed=3)
    again.build((None, 7))  # the reservoir does not depend on the input width
    np.testing.assert_array_equal(numpy_weights(again)["recurrent_kernel"], w["recurrent_kernel"])
    other = EchoStateCell(200, spectral_radius=0.9, sparsity=0.8, input_scaling=0.5, seed=4)
    other.build((None, F))
    assert not np.array_equal(numpy_weights(other)["recurrent_kernel"], w["recurrent_kernel"])


def test_echo_state_seed_comes_from_the_global_seed_and_is_kept_in_the_config():
    keras.utils.set_random_seed(11)
    first = get_cell("esn").cell(U)
    keras.utils.set_random_seed(11)
    second = get_cell("esn").cell(U)
    assert first.seed == second.seed and first.get_config()["seed"] == first.seed
    assert EchoStateCell.from_config(first.get_config()).seed == first.seed


def test_echo_state_step_by_hand():
    cell = EchoStateCell(U, leak_rate=0.3, seed=0)
    cell.build((None, F))
    w = numpy_weights(cell)
    candidate = np.tanh(X @ w["kernel"] + H0 @ w["recurrent_kernel"] + w["bias"])
    close(cell(X, [H0])[0], 0.7 * H0 + 0.3 * candidate)


def test_only_what_reads_the_reservoir_trains_and_a_saved_model_gives_the_same_outputs(tmp_path):
    from seqpipe.layers.recurrent import recurrent_stack
    from seqpipe.saving import load_model

    keras.utils.set_random_seed(0)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(12, 4, mask_zero=True)(ids)
    x = recurrent_stack(x, cell={"kind": "esn", "leak_rate": 0.5}, units=16, layers=1, bidirectional=True)
    model = keras.Model(ids, keras.layers.Dense(2)(x[:, -1]))
    reservoir = [w for w in model.weights if "_esn_" in w.path]
    assert len(reservoir) == 6 and not any(w.trainable for w in reservoir)  # both directions
    before = [keras.ops.convert_to_numpy(w) for w in reservoir]
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = np.random.default_rng(0).integers(1, 12, size=(16, 6)).astype("int32")
    model.fit(data, np.arange(16) % 2, epochs=2, verbose=0)
    for w, b in zip(reservoir, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), b)

    path = tmp_path / "esn.keras"
    model.save(path)
    np.testing.assert_array_equal(load_model(path)(data).numpy(), model(data).numpy())
