"""Skip connections through time (``encode.skip_delay``): step t of every layer also receives h_{t-d}."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from seqpipe.cells import gate_activations, get_cell
from seqpipe.cells.keras_cells import SkipDelayCell
from seqpipe.layers.recurrent import recurrent_stack

T, F, U, D = 10, 3, 4, 3
RNG = np.random.default_rng(0)
SEQ = RNG.normal(size=(1, T, F)).astype("float32")


def memoryless(units=U):
    """An Elman cell without recurrent weights: on its own, its output at t depends on x_t only."""
    return keras.layers.SimpleRNNCell(units, recurrent_initializer="zeros")


def reached_by(rnn, t):
    """The input steps whose change changes the output at step ``t``."""
    base = keras.ops.convert_to_numpy(rnn(SEQ))[0, t]
    found = []
    for s in range(T):
        changed = SEQ.copy()
        changed[0, s] += 1.0
        if not np.allclose(keras.ops.convert_to_numpy(rnn(changed))[0, t], base, atol=1e-7):
            found.append(s)
    return found


def test_the_delayed_path_reaches_exactly_the_steps_d_apart():
    keras.utils.set_random_seed(0)
    alone = keras.layers.RNN(memoryless(), return_sequences=True)
    assert reached_by(alone, 9) == [9]
    skipping = keras.layers.RNN(SkipDelayCell(memoryless(), D), return_sequences=True)
    # h_9 sees h_6, which sees h_3, which sees h_0; never x_7, x_8 (the cell itself has no memory)
    assert reached_by(skipping, 9) == [0, 3, 6, 9]
    assert reached_by(skipping, 5) == [2, 5]


def test_a_step_is_the_cell_on_the_input_and_the_output_d_steps_back():
    keras.utils.set_random_seed(1)
    cell = SkipDelayCell(memoryless(), D)
    out = keras.ops.convert_to_numpy(keras.layers.RNN(cell, return_sequences=True)(SEQ))[0]
    kernel, _, bias = (keras.ops.convert_to_numpy(w) for w in cell.cell.weights)
    assert kernel.shape == (F + U, U)  # the cell reads [x_t ; h_{t-d}]
    for t in range(T):
        delayed = out[t - D] if t >= D else np.zeros(U, "float32")
        np.testing.assert_allclose(out[t], np.tanh(np.r_[SEQ[0, t], delayed] @ kernel + bias), atol=1e-6)


def test_state_is_the_cells_states_and_the_buffer_oldest_first():
    cell = SkipDelayCell(keras.layers.LSTMCell(U), D)
    assert cell.state_size == [U, U, D * U] and cell.output_size == U
    rnn = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    out, h, c, buffer = (keras.ops.convert_to_numpy(t) for t in rnn(SEQ))
    np.testing.assert_allclose(buffer[0], out[0, -D:].reshape(-1), atol=1e-6)  # h_{T-3}, h_{T-2}, h_{T-1}
    np.testing.assert_allclose(h, out[:, -1], atol=1e-6)


def test_a_masked_step_is_skipped_buffer_included():
    keras.utils.set_random_seed(2)
    rnn = keras.layers.RNN(SkipDelayCell(keras.layers.GRUCell(U), 2), return_sequences=True)
    mask = np.ones((1, T), bool)
    mask[0, 4] = False
    with_gap = keras.ops.convert_to_numpy(rnn(SEQ, mask=mask))[0]
    without = keras.ops.convert_to_numpy(rnn(np.delete(SEQ, 4, axis=1)))[0]
    np.testing.assert_allclose(np.delete(with_gap, 4, axis=0), without, atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "rnn", {"kind": "lstm", "peepholes": True}, "esn"])
def test_saved_and_loaded_in_safe_mode(cell, tmp_path):
    from seqpipe.saving import load_model

    keras.utils.set_random_seed(3)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(9, F, mask_zero=True)(ids)
    out, states = recurrent_stack(x, cell=cell, units=U, layers=2, bidirectional=True, skip_delay=2,
                                  return_state=True)
    model = keras.Model(ids, [out, *states])
    data = np.array([[3, 4, 5, 6, 0, 0], [7, 8, 0, 0, 0, 0]], "int32")
    model.save(tmp_path / "skip.keras")
    loaded = load_model(tmp_path / "skip.keras")
    for a, b in zip(loaded(data), model(data)):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert any(isinstance(getattr(layer, "forward_layer", None), keras.layers.RNN)
               and isinstance(layer.forward_layer.cell, SkipDelayCell) for layer in loaded.layers)


def test_the_stack_returns_the_cells_states_not_the_buffer():
    x = keras.Input((None, F))
    _, states = recurrent_stack(x, cell="lstm", units=U, layers=1, bidirectional=False, skip_delay=4,
                                return_state=True)
    assert [s.shape[-1] for s in states] == [U, U]


def test_gates_of_a_wrapped_cell_read_the_delayed_output():
    cell = SkipDelayCell(keras.layers.LSTMCell(U), 2)
    cell.build((None, F))
    h, c, buffer = (RNG.normal(size=(2, n)).astype("float32") for n in (U, U, 2 * U))
    x = RNG.normal(size=(2, F)).astype("float32")
    expected = gate_activations(cell.cell, np.concatenate([x, buffer[:, :U]], -1), [h, c])
    for name, value in gate_activations(cell, x, [h, c, buffer]).items():
        np.testing.assert_allclose(keras.ops.convert_to_numpy(value), keras.ops.convert_to_numpy(expected[name]))


def test_dropout_of_the_wrapped_cell_works_in_compiled_training():
    keras.utils.set_random_seed(4)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(9, F, mask_zero=True)(ids)
    x = recurrent_stack(x, cell={"kind": "leaky_rnn", "time_constants": [1, 4]}, units=U, layers=2,
                        bidirectional=False, recurrent_dropout=0.3, skip_delay=2)
    model = keras.Model(ids, keras.layers.Dense(2)(x[:, -1]))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = RNG.integers(1, 9, size=(8, 6)).astype("int32")
    history = model.fit(data, np.arange(8) % 2, epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    step = model.layers[2].cell
    assert step.cell.recurrent_dropout == 0.3 and step.cell._recurrent_dropout_mask is None  # reset after each call


def test_skip_delay_needs_a_positive_delay():
    with pytest.raises(ValueError, match="delay must be a positive integer"):
        SkipDelayCell(get_cell("gru").cell(U), 0)
