"""The NTM cell (``cell: ntm``): one step against a numpy implementation of Graves et al. (2014)'s addressing and
memory update, the zero state as the initial state, serialization, masking and the read/write trace."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from seqpipe.cells import get_cell
from seqpipe.cells.keras_cells.ntm import MEMORY_INIT, NTMCell, address, circular_shift

B, F = 2, 5


def softplus(x):
    return np.log1p(np.exp(x))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_shift(w, s, shift_range):
    """w~(i) = sum_j w(j) s(i - j), offsets taken modulo N; ``s`` covers -S..S."""
    n = w.shape[-1]
    out = np.zeros_like(w)
    for i in range(n):
        for j in range(n):
            d = (i - j) % n
            offset = d if d <= shift_range else d - n if d >= n - shift_range else None
            if offset is not None:
                out[..., i] += w[..., j] * s[..., offset + shift_range]
    return out


def np_address(memory, previous, key, beta, gate, shift, gamma, shift_range):
    """Graves et al. (2014) eqs. 5-9 for (batch, heads) with explicit loops where the paper sums."""
    b, h = key.shape[:2]
    out = np.zeros_like(previous)
    for i in range(b):
        for k in range(h):
            rows = memory[i]
            cosine = rows @ key[i, k] / (np.linalg.norm(rows, axis=1) * np.linalg.norm(key[i, k]) + 1e-8)
            content = softmax(beta[i, k] * cosine)                                   # eq. 5
            gated = gate[i, k] * content + (1 - gate[i, k]) * previous[i, k]         # eq. 7
            shifted = np_shift(gated, shift[i, k], shift_range)                      # eq. 8
            sharp = shifted ** gamma[i, k]
            out[i, k] = sharp / (sharp.sum() + 1e-8)                                  # eq. 9
    return out


def np_step(cell, x, states):
    """One NTM step in numpy from the cell's weights (LSTM controller)."""
    n, w, r, wh, s = cell.memory_size, cell.word_size, cell.read_heads, cell.write_heads, cell.shift_range
    heads = r + wh
    weights = {v.path.split("/")[-1]: np.asarray(v.numpy(), "float64") for v in cell.weights}
    _, h, c, dm, reads, dw = [np.asarray(t, "float64") for t in states]
    memory = dm.reshape(B, n, w) + MEMORY_INIT
    w0 = np.zeros((heads, n))
    w0[:, 0] = 1
    previous = dw.reshape(B, heads, n) + w0
    z = (np.concatenate([x, reads], -1) @ weights["controller_kernel"] + h @ weights["controller_recurrent_kernel"]
         + weights["controller_bias"])
    zi, zf, zc, zo = np.split(z, 4, -1)
    c = sigmoid(zf) * c + sigmoid(zi) * np.tanh(zc)
    h = sigmoid(zo) * np.tanh(c)
    p = np.clip(h @ weights["interface_kernel"] + weights["interface_bias"], -cell.clip, cell.clip)
    per = w + 3 + 2 * s + 1
    hp = p[:, :heads * per].reshape(B, heads, per)
    key, beta, gate = np.tanh(hp[..., :w]), softplus(hp[..., w]), sigmoid(hp[..., w + 1])
    shift, gamma = softmax(hp[..., w + 2:w + 3 + 2 * s]), 1 + softplus(hp[..., -1])
    ea = p[:, heads * per:].reshape(B, wh, 2 * w)
    erase, add = sigmoid(ea[..., :w]), np.tanh(ea[..., w:])
    focus = np_address(memory, previous, key, beta, gate, shift, gamma, s)
    new_reads = np.stack([focus[i, :r] @ memory[i] for i in range(B)]).reshape(B, r * w)    # r = sum_i w(i) M(i)
    new_memory = memory.copy()
    for i in range(B):
        keep = np.ones((n, w))
        for k in range(wh):
            keep *= 1 - np.outer(focus[i, r + k], erase[i, k])                            # erase
        new_memory[i] = memory[i] * keep + sum(np.outer(focus[i, r + k], add[i, k]) for k in range(wh))  # add
    y = np.clip(np.concatenate([h, new_reads], -1) @ weights["output_kernel"] + weights["output_bias"],
                -cell.clip, cell.clip)
    return y, [y, h, c, (new_memory - MEMORY_INIT).reshape(B, n * w), new_reads, (focus - w0).reshape(B, -1)]


def valid_states(cell, rng):
    """Random states of a running machine: any memory, weightings that are distributions."""
    n, w, heads = cell.memory_size, cell.word_size, cell.heads
    w0 = np.zeros((heads, n))
    w0[:, 0] = 1
    focus = rng.dirichlet(np.ones(n) * 0.3, size=(B, heads))
    sizes = cell.state_size
    return [rng.normal(size=(B, sizes[0])), rng.normal(size=(B, sizes[1])), rng.normal(size=(B, sizes[2])),
            rng.normal(size=(B, n * w)) * 0.5, rng.normal(size=(B, sizes[4])), (focus - w0).reshape(B, -1)]


@pytest.mark.parametrize("options", [dict(memory_size=6, word_size=3, read_heads=1, write_heads=1, shift_range=1),
                                     dict(memory_size=7, word_size=2, read_heads=2, write_heads=2, shift_range=2)])
def test_one_step_matches_numpy(options):
    rng = np.random.default_rng(0)
    cell = NTMCell(4, controller_units=5, **options)
    cell.build((None, F))
    cell.set_weights([rng.normal(size=v.shape).astype("float32") for v in cell.get_weights()])
    x = rng.normal(size=(B, F))
    states = valid_states(cell, rng)
    y, new = cell(x.astype("float32"), [s.astype("float32") for s in states])
    y_np, new_np = np_step(cell, x, states)
    np.testing.assert_allclose(y.numpy(), y_np, atol=2e-4, rtol=1e-4)
    for got, want in zip(new, new_np):
        np.testing.assert_allclose(got.numpy(), want, atol=2e-4, rtol=1e-4)


def test_addressing_pieces():
    rng = np.random.default_rng(1)
    n, w = 5, 3
    memory = rng.normal(size=(B, n, w)).astype("float32")
    previous = rng.dirichlet(np.ones(n), size=(B, 1)).astype("float32")
    key = rng.normal(size=(B, 1, w)).astype("float32")
    beta = np.full((B, 1), 2.5, "float32")
    identity = np.tile(np.array([0, 1, 0], "float32"), (B, 1, 1))
    ones, zeros = np.ones((B, 1), "float32"), np.zeros((B, 1), "float32")
    # gate 1, no shift, gamma 1: the content focus softmax(beta * cosine)
    content = address(memory, previous, key, beta, ones, identity, ones, 1).numpy()
    cosine = np.einsum("bw,bnw->bn", key[:, 0], memory) / (
        np.linalg.norm(memory, axis=-1) * np.linalg.norm(key[:, 0], axis=-1)[:, None])
    np.testing.assert_allclose(content[:, 0], softmax(2.5 * cosine), atol=1e-5)
    # gate 0: the previous weighting, then a shift by +1 moves every weight one row on (circularly)
    np.testing.assert_allclose(address(memory, previous, key, beta, zeros, identity, ones, 1).numpy(), previous,
                               atol=1e-6)
    forward = np.tile(np.array([0, 0, 1], "float32"), (B, 1, 1))
    np.testing.assert_allclose(address(memory, previous, key, beta, zeros, forward, ones, 1).numpy(),
                               np.roll(previous, 1, axis=-1), atol=1e-6)
    shift = rng.dirichlet(np.ones(3), size=(B, 1)).astype("float32")
    np.testing.assert_allclose(circular_shift(previous, shift, 1).numpy(), np_shift(previous, shift, 1), atol=1e-6)
    # sharpening with gamma 3 renormalises w^3
    sharp = address(memory, previous, key, beta, zeros, identity, np.full((B, 1), 3.0, "float32"), 1).numpy()
    np.testing.assert_allclose(sharp, previous ** 3 / (previous ** 3).sum(-1, keepdims=True), atol=1e-5)


def test_the_zero_state_is_the_initial_machine():
    cell = NTMCell(3, memory_size=4, word_size=2)
    cell.build((None, F))
    parts = cell.split_states([np.zeros((1, size), "float32") for size in cell.state_size])
    np.testing.assert_allclose(parts["memory"].numpy(), np.full((1, 4, 2), MEMORY_INIT), rtol=1e-6)
    np.testing.assert_array_equal(parts["weights"].numpy(), [[[1, 0, 0, 0], [1, 0, 0, 0]]])
    assert all(np.all(s.numpy() == 0) for s in cell.get_initial_state(2))


def test_options_reach_the_cell_and_the_config_round_trips():
    spec = {"kind": "ntm", "memory_size": 9, "word_size": 4, "read_heads": 2, "controller": "dense",
            "controller_units": 7, "shift_range": 2, "clip": 5.0}
    cell = get_cell(spec).cell(6, recurrent_dropout=0.1)
    assert (cell.memory_size, cell.word_size, cell.read_heads, cell.controller, cell.controller_units,
            cell.recurrent_dropout) == (9, 4, 2, "dense", 7, 0.1)
    assert cell.state_size == [6, 36, 8, 27]  # y, memory, reads, weightings (no controller state)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))
    assert type(again) is NTMCell and again.get_config() == cell.get_config()
    with pytest.raises(ValueError, match="shift_range 3 needs memory_size >= 7"):
        get_cell({"kind": "ntm", "memory_size": 6, "shift_range": 3})


def test_saved_model_and_masking(tmp_path):
    keras.utils.set_random_seed(0)
    spec = {"kind": "ntm", "memory_size": 6, "word_size": 3}
    x_in = keras.Input((None, F))
    mask_in = keras.Input((None,), dtype="bool")
    out, *states = get_cell(spec).layer(4, return_sequences=True, return_state=True)(x_in, mask=mask_in)
    model = keras.Model([x_in, mask_in], [out, *states])
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 6, F)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0, 0], [1] * 6], bool)
    full = model([x, mask])
    # masked steps keep the state: row 0's final states are those after its 3 real steps
    short = model([x[:1, :3], mask[:1, :3]])
    for a, b in zip(full[1:], short[1:]):
        np.testing.assert_allclose(a.numpy()[0], b.numpy()[0], atol=1e-5)
    np.testing.assert_allclose(full[0].numpy()[0, :3], short[0].numpy()[0], atol=1e-5)
    garbage = x.copy()
    garbage[0, 3:] = 100.0  # padding content changes nothing real
    np.testing.assert_allclose(model([garbage, mask])[0].numpy()[0, :3], full[0].numpy()[0, :3], atol=1e-5)
    model.save(tmp_path / "ntm.keras")
    loaded = keras.saving.load_model(tmp_path / "ntm.keras", safe_mode=True)
    for a, b in zip(loaded([x, mask]), full):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_trace_gives_each_heads_weightings_over_time():
    cell = NTMCell(3, memory_size=5, word_size=2, read_heads=2)
    cell.build((None, F))
    traces = cell.trace(np.random.default_rng(3).normal(size=(7, F)))
    assert list(traces) == ["read 1", "read 2", "write 1"]
    for values in traces.values():
        assert values.shape == (7, 5)
        np.testing.assert_allclose(values.sum(-1), 1.0, atol=1e-5)


def test_plot_traces_and_the_example_choice(tmp_path):
    from seqpipe.cells.diagnostics import pick_example, plot_traces, traced_cells

    assert pick_example(["a " * 3, "a " * 9, "a " * 20], ["a a a a"]) == 1  # nearest to 2 x 4 tokens
    traces = {"read 1": np.eye(6)[[0, 1, 2, 3]], "write 1": np.eye(6)[[0, 0, 1, 2]]}
    path = plot_traces(traces, list("abcd"), tmp_path / "trace.png", "t")
    assert path.stat().st_size > 1000
    inputs = keras.Input((None, F))
    model = keras.Model(inputs, keras.layers.Bidirectional(get_cell({"kind": "ntm", "memory_size": 4}).layer(2))(
        keras.layers.Dense(F)(get_cell("lstm").layer(F)(inputs))))
    assert [(name, type(cell)) for name, _, cell in traced_cells(model)] == [(model.layers[-1].name, NTMCell)]


@pytest.mark.parametrize("controller", ["lstm", "dense"])
def test_recurrent_dropout_trains_in_a_bidirectional_stack(controller):
    from seqpipe.layers.recurrent import recurrent_stack

    keras.utils.set_random_seed(4)
    inputs = keras.Input((None, F))
    spec = {"kind": "ntm", "memory_size": 6, "word_size": 3, "controller": controller, "controller_units": 7}
    out = recurrent_stack(inputs, cell=spec, units=5, layers=1, bidirectional=True, recurrent_dropout=0.3)
    model = keras.Model(inputs, keras.layers.Dense(2)(out))
    model.compile("adam", "mse")
    rng = np.random.default_rng(4)
    history = model.fit(rng.random((8, 6, F)), rng.random((8, 6, 2)), epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
