import keras
import numpy as np
import pytest

from seqpipe.layers.decoder import AttentionDecoder

B, S, T, V, M = 3, 6, 5, 17, 10


def inputs():
    rng = np.random.default_rng(0)
    memory = rng.normal(size=(B, S, M)).astype("float32")
    mask = np.ones((B, S), bool)
    mask[0, 4:] = False  # a shorter source
    states = [rng.normal(size=(B, M)).astype("float32"), rng.normal(size=(B, M)).astype("float32")]
    target_in = rng.integers(1, V, size=(B, T)).astype("int32")
    return memory, mask, states, target_in


CASES = [
    dict(cell="lstm", attention="bahdanau", input_feeding=True, bridge="dense", layers=2),
    dict(cell="gru", attention="luong_general", input_feeding=False, bridge="zero", layers=1),
    dict(cell="lstm", attention="luong_dot", input_feeding=True, bridge="copy", layers=1, units=M),
    dict(cell="rnn", attention="none", input_feeding=False, bridge="dense", layers=1),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['cell']}-{c['attention']}-{c['bridge']}")
def test_step_by_step_decoding_reproduces_teacher_forced_logits(case):
    keras.utils.set_random_seed(0)
    memory, mask, states, target_in = inputs()
    units = case.pop("units", 12)
    decoder = AttentionDecoder(V, 8, units=units, memory_dim=M, encoder_state_dims=[M, M], **case)
    full = decoder(target_in, memory, mask, states).numpy()
    assert full.shape == (B, T, V)
    state = decoder.initial_state(memory, mask, states)
    for t in range(T):
        logits, state, weights = decoder.step(target_in[:, t], state)
        np.testing.assert_allclose(logits.numpy(), full[:, t], atol=1e-5)
        np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, atol=1e-5)
        assert (weights.numpy()[0, 4:] == 0).all()  # padding gets no attention


def test_padding_the_source_changes_nothing():
    keras.utils.set_random_seed(1)
    memory, mask, states, target_in = inputs()
    decoder = AttentionDecoder(V, 8, units=12, memory_dim=M, encoder_state_dims=[M, M])
    short = decoder(target_in[:1], memory[:1, :4], mask[:1, :4], [s[:1] for s in states]).numpy()
    padded_memory = memory[:1].copy()
    padded_memory[:, 4:] = 99.0  # garbage at the masked positions
    padded = decoder(target_in[:1], padded_memory, mask[:1], [s[:1] for s in states]).numpy()
    np.testing.assert_allclose(short, padded, atol=1e-5)


def test_config_round_trip_gives_the_same_logits():
    keras.utils.set_random_seed(2)
    memory, mask, states, target_in = inputs()
    decoder = AttentionDecoder(V, 8, units=12, memory_dim=M, encoder_state_dims=[M, M], attention="luong_general")
    out = decoder(target_in, memory, mask, states)
    clone = AttentionDecoder.from_config(decoder.get_config())
    clone(target_in, memory, mask, states)
    clone.set_weights(decoder.get_weights())
    np.testing.assert_allclose(clone(target_in, memory, mask, states).numpy(), out.numpy(), atol=1e-6)


def test_copy_bridge_needs_matching_widths():
    with pytest.raises(ValueError,
                       match=r"bridge 'copy' needs encoder state widths \[10, 10\] to equal decoder units 12"):
        AttentionDecoder(V, 8, units=12, memory_dim=M, encoder_state_dims=[M, M], bridge="copy")


def test_decoder_learns_to_copy_a_sequence():
    """Trained with teacher forcing, the decoder reproduces the source through attention."""
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    n, length, vocab = 512, 5, 12
    x = rng.integers(4, vocab, size=(n, length)).astype("int32")
    ids = keras.Input((None,), dtype="int32")
    emb = keras.layers.Embedding(vocab, 16, mask_zero=True)(ids)
    memory, h, c = keras.layers.LSTM(32, return_sequences=True, return_state=True)(emb)
    target_in = keras.Input((None,), dtype="int32")
    decoder = AttentionDecoder(vocab, 16, units=32, memory_dim=32, encoder_state_dims=[32, 32],
                               attention="luong_general")
    mask = keras.layers.Lambda(lambda t: keras.ops.not_equal(t, 0))(ids)
    model = keras.Model([ids, target_in], decoder(target_in, memory, mask, [h, c]))
    y_in = np.concatenate([np.full((n, 1), 2), x], axis=1).astype("int32")
    y_out = np.concatenate([x, np.full((n, 1), 3)], axis=1).astype("int32")
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit([x, y_in], y_out, epochs=25, batch_size=64, verbose=0)
    predicted = model.predict([x[:64], y_in[:64]], verbose=0).argmax(-1)
    assert (predicted == y_out[:64]).mean() > 0.95
