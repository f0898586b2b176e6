"""Every registered cell works in every place a cell is accepted.

The places: the encoder stack (classifier, tagger, language model, translation encoder), the
classifier's pooling of its final states, the tagger's character word encoder, the stepping
language model (and its stateful copy), and the attention decoder, whose step-by-step decoding
must reproduce its teacher-forced logits. The cell list is read from the registry, so a cell
added later is tested here without editing this file; option variants that build something else
(peepholes, relu, several time scales, ...) are listed in ``cell_specs.py``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqpipe.cells import get_cell, state_sizes
from tests.unit.cells.cell_specs import spec_params

CELLS_AND_VARIANTS = spec_params()


def padded_batch(rng, vocab=11, lengths=(5, 3, 1), width=7):
    ids = np.zeros((len(lengths), width), "int32")
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(4, vocab, n)
    return ids


@pytest.mark.parametrize("skip_delay", [0, 2])
@pytest.mark.parametrize("cell", CELLS_AND_VARIANTS)
def test_encoder_stack_ignores_padding_and_returns_the_cells_states(cell, skip_delay):
    from seqpipe.layers.recurrent import recurrent_stack

    keras.utils.set_random_seed(0)
    ids_in = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(11, 6, mask_zero=True)(ids_in)
    out, states = recurrent_stack(x, cell=cell, units=3, layers=2, bidirectional=True, residual=True,
                                  skip_delay=skip_delay, return_state=True)
    model = keras.Model(ids_in, [out, *states])
    ids = padded_batch(np.random.default_rng(0))
    longer = np.concatenate([ids, np.zeros((3, 4), "int32")], axis=1)  # more padding changes nothing real
    a, b = model(ids), model(longer)
    for row, n in enumerate((5, 3, 1)):
        np.testing.assert_allclose(a[0].numpy()[row, :n], b[0].numpy()[row, :n], atol=1e-5)
    for s_a, s_b in zip(a[1:], b[1:]):
        np.testing.assert_allclose(s_a.numpy(), s_b.numpy(), atol=1e-5)
    sizes = state_sizes(get_cell(cell).cell(3))
    assert [s.shape[-1] for s in states] == [2 * size for size in sizes]  # both directions joined


@pytest.mark.parametrize("skip_delay", [0, 2])
@pytest.mark.parametrize("cell", CELLS_AND_VARIANTS)
def test_classifier_last_pooling_reads_the_final_states(cell, skip_delay):
    from seqpipe.layers.pooling import MaskedPooling
    from seqpipe.layers.recurrent import recurrent_stack

    keras.utils.set_random_seed(1)
    ids_in = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(11, 4, mask_zero=True)(ids_in)
    out, states = recurrent_stack(x, cell=cell, units=3, layers=1, bidirectional=True, skip_delay=skip_delay,
                                  return_state=True)
    pooled = MaskedPooling("last", backward_units=3)(out)
    model = keras.Model(ids_in, [pooled, states[0]])
    last, final_h = model(padded_batch(np.random.default_rng(1)))
    np.testing.assert_allclose(last.numpy(), final_h.numpy(), atol=1e-5)


@pytest.mark.parametrize("cell", CELLS_AND_VARIANTS)
def test_character_word_encoder_skips_padding_words(cell):
    from seqpipe.layers.char_words import CharWordEncoder

    keras.utils.set_random_seed(2)
    layer = CharWordEncoder(9, dim=4, units=3, cell=cell)
    chars = np.zeros((2, 3, 5), "int32")
    chars[0, 0, :3] = [4, 5, 6]
    chars[0, 1, :1] = [7]
    chars[1, 0, :5] = [4, 4, 5, 6, 8]
    out = layer(chars).numpy()
    assert out.shape == (2, 3, 6)
    assert (out[0, 2] == 0).all() and (out[1, 1:] == 0).all()  # padding words come out as zeros
    alone = layer(chars[:1, :1, :3]).numpy()
    np.testing.assert_allclose(alone[0, 0], out[0, 0], atol=1e-5)
    np.testing.assert_array_equal(layer.compute_mask(chars), chars.any(-1))


def _language_model(cell, skip_delay=0):
    from seqpipe.layers.recurrent import recurrent_stack
    from seqpipe.tasks.language_model.runtime import LanguageModel
    from seqpipe.text.encoder import TextEncoder

    encoder = TextEncoder("char", ["[PAD]", "[UNK]", "[START]", "[END]", *"abcdefg"], 50, lowercase=False)
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(encoder.vocabulary_size, 5, name="embedding")(ids)
    x = recurrent_stack(x, cell=cell, units=5, layers=2, bidirectional=False, residual=True, skip_delay=skip_delay)
    logits = keras.layers.Dense(encoder.vocabulary_size, name="lm_logits")(x)
    return LanguageModel(keras.Model(ids, logits), encoder)


@pytest.mark.parametrize("skip_delay", [0, 2])
@pytest.mark.parametrize("cell", CELLS_AND_VARIANTS)
def test_language_model_stepping_reproduces_the_full_model(cell, skip_delay):
    keras.utils.set_random_seed(3)
    lm = _language_model(cell, skip_delay)
    ids = np.array([[2, 4, 5, 6, 7, 8, 9, 10, 4]], "int32")
    full = lm.model(ids).numpy()[0]
    state = lm.zero_state(1)
    for t in range(ids.shape[1]):
        logits, state = lm.advance(tf.constant(ids[:, t]), state)
        np.testing.assert_allclose(logits.numpy()[0], full[t], atol=1e-4)
    scores = lm.score(tf.constant(["abc", "gfe"]))
    assert scores["num_tokens"].numpy().tolist() == [3, 3]


@pytest.mark.parametrize("skip_delay", [0, 3])
@pytest.mark.parametrize("cell", CELLS_AND_VARIANTS)
def test_stateful_language_model_carries_state_across_windows(cell, skip_delay):
    from seqpipe.tasks.language_model.runtime import stateful_copy

    keras.utils.set_random_seed(4)
    lm = _language_model(cell, skip_delay)
    stream = np.array([[2, 4, 5, 6, 7, 8, 9, 10]], "int32")
    stateful = stateful_copy(lm.model, batch_size=1, window=4)
    first, second = stateful(stream[:, :4]).numpy(), stateful(stream[:, 4:]).numpy()
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), lm.model(stream).numpy(), atol=1e-4)


@pytest.mark.parametrize("cell", CELLS_AND_VARIANTS)
@pytest.mark.parametrize("attention, residual", [("bahdanau", False), ("luong_general", False),
                                                 ("bahdanau", True)])
def test_decoder_steps_reproduce_teacher_forcing(cell, attention, residual):
    from seqpipe.layers.decoder import AttentionDecoder

    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    memory = rng.normal(size=(2, 4, 6)).astype("float32")
    mask = np.array([[True] * 4, [True, True, False, False]])
    states = [rng.normal(size=(2, 6)).astype("float32")] * 2
    target_in = rng.integers(1, 13, size=(2, 5)).astype("int32")
    decoder = AttentionDecoder(13, 5, cell=cell, units=6, layers=2, attention=attention, memory_dim=6,
                               encoder_state_dims=[6, 6], bridge="dense", residual=residual)
    full = decoder(target_in, memory, mask, states).numpy()
    state = decoder.initial_state(memory, mask, states)
    for t in range(target_in.shape[1]):
        logits, state, weights = decoder.step(target_in[:, t], state)
        np.testing.assert_allclose(logits.numpy(), full[:, t], atol=1e-5)
        assert (weights.numpy()[1, 2:] == 0).all()


@pytest.mark.parametrize("cell", CELLS_AND_VARIANTS)
def test_every_cell_declares_its_cudnn_rule(cell):
    from seqpipe.cells import cudnn_eligible

    kind = get_cell(cell)
    eligible, reason = kind.cudnn_eligible(0.0)
    assert reason
    if isinstance(cell, str):
        assert eligible is kind.cudnn_kernel
    # eligible exactly when the sequence layer is Keras's fused LSTM/GRU (a custom cell runs in keras.layers.RNN)
    assert eligible is isinstance(kind.layer(3), (keras.layers.LSTM, keras.layers.GRU))
    assert kind.cudnn_eligible(0.2)[0] is False
    assert cudnn_eligible(cell, 0.0) == (eligible, reason)
    skipping = cudnn_eligible(cell, 0.0, skip_delay=2)
    assert skipping[0] is False and (eligible is False or "skip_delay" in skipping[1])
