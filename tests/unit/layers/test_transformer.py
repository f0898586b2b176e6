"""The Transformer encoder and decoder stacks: cached step-by-step decoding reproduces teacher forcing, the searches
run over the key/value cache, and the encoder's padding changes nothing at real positions."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqpipe.decoding import decode
from seqpipe.layers.transformer import TransformerDecoderStack, TransformerEncoderStack

RNG = np.random.default_rng(3)
B, S, M, V = 3, 5, 10, 17
MEMORY = RNG.normal(size=(B, S, M)).astype("float32")
MASK = np.arange(S)[None] < np.array([3, 5, 1])[:, None]
TARGET = RNG.integers(1, V, size=(B, 7)).astype("int32")


def decoder(**options):
    keras.utils.set_random_seed(1)
    kwargs = dict(units=16, layers=2, heads=4, ff_dim=32, max_length=9, memory_dim=M) | options
    layer = TransformerDecoderStack(V, kwargs.pop("embed_dim", 16), **kwargs)
    layer(TARGET, MEMORY, MASK)
    return layer


def stepped(layer, target, memory=MEMORY, mask=MASK):
    """Logits of feeding ``target`` one token at a time through the cached step, and the attention of each step."""
    state = layer.initial_state(tf.constant(memory), tf.constant(mask))
    logits, attention = [], []
    for t in range(target.shape[1]):
        out, state, weights = layer.step(tf.constant(target[:, t]), state)
        logits.append(out.numpy())
        attention.append(weights.numpy())
    return np.stack(logits, 1), np.stack(attention, 1), state


@pytest.mark.parametrize("options", [{}, {"normalize_first": True}, {"embed_dim": 6, "layers": 3, "heads": 2}],
                         ids=["post-norm", "pre-norm", "projected-3-blocks"])
def test_cached_steps_reproduce_the_teacher_forced_logits(options):
    layer = decoder(**options)
    forced = layer(TARGET, MEMORY, MASK).numpy()
    logits, attention, state = stepped(layer, TARGET)
    np.testing.assert_allclose(logits, forced, atol=2e-5)
    # the step's attention is a distribution over the real memory positions only
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    assert np.all(attention[~np.broadcast_to(MASK[:, None, :], attention.shape)] == 0)
    assert state["index"].numpy().tolist() == [TARGET.shape[1]] * B


def test_the_cache_holds_max_length_positions_and_the_memory_is_projected_once():
    layer = decoder()
    state = layer.initial_state(tf.constant(MEMORY), tf.constant(MASK))
    assert state["self_0"].shape == (B, 2, 9, 4, 4)  # [batch, key/value, max_length, heads, head_dim]
    assert state["cross_1"].shape == (B, 2, S, 4, 4)
    _, new, _ = layer.step(tf.constant(TARGET[:, 0]), state)
    assert new["cross_1"] is state["cross_1"]  # the memory's keys/values are never recomputed
    written = new["self_0"].numpy()
    assert np.any(written[:, :, 0] != 0) and np.all(written[:, :, 1:] == 0)  # one position written per step


def test_memory_padding_changes_nothing_in_the_steps():
    layer = decoder()
    noisy = np.where(MASK[..., None], MEMORY, 100 * RNG.normal(size=MEMORY.shape)).astype("float32")
    np.testing.assert_allclose(stepped(layer, TARGET, noisy)[0], stepped(layer, TARGET)[0], atol=1e-5)


def test_greedy_search_over_the_cache_is_the_argmax_of_teacher_forcing_on_its_own_output():
    layer = decoder()
    state = layer.initial_state(tf.constant(MEMORY), tf.constant(MASK))
    out = tf.function(lambda s: decode(layer.step, s, start_id=2, end_id=3, max_length=9, strategy="greedy"))(state)
    tokens = out["tokens"].numpy()[:, 0]
    for row in range(B):
        length = int(out["lengths"][row, 0])
        prefix = np.concatenate([[2], tokens[row, : length - 1]])[None].astype("int32")
        forced = layer(prefix, MEMORY[row : row + 1], MASK[row : row + 1]).numpy()[0]
        assert forced.argmax(-1).tolist() == tokens[row, :length].tolist()


def test_beam_search_with_penalties_and_n_best_runs_over_the_reordered_cache():
    layer = decoder()
    state = layer.initial_state(tf.constant(MEMORY), tf.constant(MASK))
    search = tf.function(lambda s, **kw: decode(layer.step, s, start_id=2, end_id=3, max_length=9, **kw))
    beam = search(state, strategy="beam", beam_width=4, length_penalty=0.6, coverage_penalty=0.2, n_best=3)
    assert beam["tokens"].shape[:2] == (B, 3)
    scores = beam["scores"].numpy()
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    # each hypothesis' summed log-probability is what teacher forcing gives its tokens
    for row in range(B):
        for k in range(3):
            length = int(beam["lengths"][row, k])
            tokens = beam["tokens"].numpy()[row, k, :length]
            prefix = np.concatenate([[2], tokens[:-1]])[None].astype("int32")
            logits = layer(prefix, MEMORY[row : row + 1], MASK[row : row + 1]).numpy()[0].astype("float64")
            log_probs = logits - logits.max(-1, keepdims=True)
            log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
            assert float(beam["log_probs"][row, k]) == pytest.approx(log_probs[np.arange(length), tokens].sum(),
                                                                      abs=1e-3)
    greedy = search(state, strategy="greedy")
    width_one = search(state, strategy="beam", beam_width=1)
    assert width_one["tokens"].numpy().tolist() == greedy["tokens"].numpy().tolist()


def test_the_encoder_passes_its_mask_on_and_ignores_padding():
    keras.utils.set_random_seed(0)
    ids = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(V, 8, mask_zero=True)(ids)
    encoded = TransformerEncoderStack(16, 2, 4, 32, name="encoder_transformer")(embedded)
    model = keras.Model(ids, encoded)
    short = np.array([[4, 5, 6, 0, 0]])
    padded_more = np.array([[4, 5, 6, 0, 0, 0, 0]])
    np.testing.assert_allclose(model(short).numpy()[:, :3], model(padded_more).numpy()[:, :3], atol=1e-5)
    assert model(np.array([[4, 5, 6, 7, 8]])).numpy()[0, 0] != pytest.approx(model(short).numpy()[0, 0])
    assert encoded._keras_mask is not None  # pooling heads and decoders downstream see the padding


def test_width_must_be_a_multiple_of_the_heads():
    with pytest.raises(ValueError, match=r"width \(10\) must be a multiple of its heads \(4\)"):
        TransformerEncoderStack(10, 1, 4, 8)


def test_the_causal_stack_steps_like_its_full_call_and_a_left_padded_row_like_itself_alone():
    from seqpipe.layers.transformer import CausalTransformerStack

    keras.utils.set_random_seed(2)
    stack = CausalTransformerStack(16, 2, 4, 32)
    x = RNG.normal(size=(2, 6, 8)).astype("float32")
    full = stack(x).numpy()
    state, outs = stack.initial_state(2, 6), []
    for t in range(6):
        out, state = stack.step(tf.constant(x[:, t]), state)
        outs.append(out.numpy())
    np.testing.assert_allclose(np.stack(outs, 1), full, atol=1e-5)
    # row 0 left-padded by 2 steps of garbage that are not real: its real steps are the unpadded row's
    padded = np.concatenate([100 * RNG.normal(size=(1, 2, 8)).astype("float32"), x[:1, :4]], axis=1)
    state, outs = stack.initial_state(1, 6), []
    for t in range(6):
        out, state = stack.step(tf.constant(padded[:, t]), state, real=tf.constant([t >= 2]))
        outs.append(out.numpy())
    np.testing.assert_allclose(np.stack(outs, 1)[:, 2:], stack(x[:1, :4]).numpy(), atol=1e-5)
    assert state["position"].numpy().tolist() == [4] and state["index"].numpy().tolist() == [6]
