"""Scheduled sampling (Bengio et al. 2015) inside AttentionDecoder's training loop, its schedules and its callback."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqpipe.layers.decoder import AttentionDecoder
from seqpipe.layers.scheduled_sampling import TeacherForcingSchedule
from seqpipe.tasks.keys import ExponentialRatio, InverseSigmoidRatio, LinearRatio, ScheduledSamplingKeys

B, S, T, V, M = 3, 6, 5, 17, 10


def inputs():
    rng = np.random.default_rng(0)
    memory = rng.normal(size=(B, S, M)).astype("float32")
    mask = np.ones((B, S), bool)
    mask[0, 4:] = False
    states = [rng.normal(size=(B, M)).astype("float32") for _ in range(2)]
    target_in = rng.integers(1, V, size=(B, T)).astype("int32")
    return target_in, memory, mask, states


CASES = [
    dict(cell="lstm", attention="bahdanau", input_feeding=True, bridge="dense", layers=2, dropout=0.3),
    dict(cell="gru", attention="luong_general", input_feeding=False, bridge="zero", layers=1, dropout=0.0),
]


def twins(case):
    """Two decoders with the same weights and the same dropout seeds."""
    made = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        decoder = AttentionDecoder(V, 8, units=12, memory_dim=M, encoder_state_dims=[M, M], **case)
        decoder(*inputs())
        made.append(decoder)
    made[1].set_weights(made[0].get_weights())
    return made


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['cell']}-{c['attention']}-dropout{c['dropout']}")
def test_ratio_one_gives_exactly_the_teacher_forced_training_logits_and_gradients(case):
    plain, sampled = twins(case)
    state = sampled.scheduled_sampling("sample", seed=3)
    state.set(step=41, ratio=1.0)
    x = inputs()

    def logits_and_grads(decoder):
        with tf.GradientTape() as tape:
            logits = decoder(*x, training=True)
            loss = tf.reduce_mean(tf.square(logits))
        return logits, tape.gradient(loss, decoder.trainable_weights)

    run = tf.function(logits_and_grads)  # graph mode, as in training
    (a, grads_a), (b, grads_b) = run(plain), run(sampled)
    np.testing.assert_array_equal(a.numpy(), b.numpy())  # bit-identical
    for ga, gb in zip(grads_a, grads_b):
        np.testing.assert_array_equal(tf.convert_to_tensor(ga).numpy(), tf.convert_to_tensor(gb).numpy())


def test_ratio_zero_with_argmax_feeds_the_models_own_previous_token():
    """eps = 0, argmax: training logits are those of stepping the decoder on its own argmax tokens."""
    keras.utils.set_random_seed(1)
    target_in, memory, mask, states = inputs()
    decoder = AttentionDecoder(V, 8, units=12, memory_dim=M, encoder_state_dims=[M, M], attention="bahdanau")
    plain = decoder(target_in, memory, mask, states, training=True).numpy()
    decoder.scheduled_sampling("argmax", seed=0).set(step=0, ratio=0.0)
    sampled = decoder(target_in, memory, mask, states, training=True).numpy()
    state = decoder.initial_state(memory, mask, states)
    tokens = target_in[:, 0]
    for t in range(T):
        logits, state, _ = decoder.step(tokens, state)
        np.testing.assert_allclose(logits.numpy(), sampled[:, t], atol=1e-5)
        tokens = np.argmax(logits.numpy()[:, 1:], axis=-1).astype("int32") + 1  # never padding
    np.testing.assert_allclose(plain[:, 0], sampled[:, 0], atol=1e-6)  # step 0 always reads [START]
    assert not np.allclose(plain[:, 1:], sampled[:, 1:])


def test_inference_never_changes_and_draws_depend_on_the_step_only():
    keras.utils.set_random_seed(2)
    x = inputs()
    decoder = AttentionDecoder(V, 8, units=12, memory_dim=M, encoder_state_dims=[M, M], dropout=0.2)
    before = decoder(*x).numpy()
    state = decoder.scheduled_sampling("sample", seed=5)
    state.set(step=3, ratio=0.3)
    np.testing.assert_array_equal(decoder(*x).numpy(), before)  # training=None
    np.testing.assert_array_equal(decoder(*x, training=False).numpy(), before)
    tokens, initial = x[0][:, 0], decoder.initial_state(*x[1:])
    np.testing.assert_allclose(decoder.step(tokens, initial)[0].numpy(), before[:, 0], atol=1e-5)

    # the dropout of the gold embeddings and outputs is Keras's (seeded generator); switch it off to compare draws
    quiet = AttentionDecoder(V, 8, units=12, memory_dim=M, encoder_state_dims=[M, M])
    quiet(*x)
    state = quiet.scheduled_sampling("sample", seed=5)
    state.set(step=3, ratio=0.3)
    first, again = quiet(*x, training=True).numpy(), quiet(*x, training=True).numpy()
    np.testing.assert_array_equal(first, again)  # same seed and step: same draws
    state.set(step=4, ratio=0.3)
    assert not np.array_equal(quiet(*x, training=True).numpy(), first)


def test_schedules_follow_the_papers_formulas():
    linear = LinearRatio(k=1.0, c=0.01, min_ratio=0.25)
    assert [linear.ratio(i) for i in (0, 10, 50, 75, 1000)] == pytest.approx([1.0, 0.9, 0.5, 0.25, 0.25])
    exponential = ExponentialRatio(k=0.9)
    assert [exponential.ratio(i) for i in (0, 1, 10)] == pytest.approx([1.0, 0.9, 0.9 ** 10])
    sigmoid = InverseSigmoidRatio(k=10, min_ratio=0.1)
    assert sigmoid.ratio(0) == pytest.approx(10 / 11)
    assert sigmoid.ratio(20) == pytest.approx(10 / (10 + math.exp(2)))
    assert sigmoid.ratio(10 ** 9) == 0.1  # no overflow; the floor holds
    assert sigmoid.prediction == "sample"


@pytest.mark.parametrize("bad, message", [
    ({"schedule": "exponential", "k": 1.0}, "less than 1"),
    ({"schedule": "inverse_sigmoid", "k": 0.5}, "greater than or equal to 1"),
    ({"schedule": "linear", "min_ratio": 2}, "less than or equal to 1"),
    ({"schedule": "cosine"}, "linear"),
    ({"schedule": "linear", "prediction": "beam"}, "sample"),
])
def test_bad_schedules_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        ScheduledSamplingKeys(scheduled_sampling=bad)
    assert ScheduledSamplingKeys().scheduled_sampling is None  # plain teacher forcing by default


def test_the_callback_sets_the_ratio_every_step_and_logs_it_every_epoch():
    """A tiny model around the decoder: the ratio follows the optimizer's steps; teacher_forcing_ratio is logged."""
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    n = 24
    memory = rng.normal(size=(n, S, M)).astype("float32")
    target_in = rng.integers(1, V, size=(n, T)).astype("int32")
    target_out = np.roll(target_in, -1, axis=1)
    memory_in, tokens = keras.Input((S, M)), keras.Input((None,), dtype="int32")
    summary = keras.layers.GlobalAveragePooling1D()(memory_in)
    decoder = AttentionDecoder(V, 8, units=12, memory_dim=M, encoder_state_dims=[M])
    model = keras.Model([memory_in, tokens], decoder(tokens, memory_in, memory_mask=None, encoder_states=[summary]))
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(schedule.state.ratio.numpy()))

    schedule = TeacherForcingSchedule(decoder, LinearRatio(k=1.0, c=0.1, min_ratio=0.5, prediction="argmax"), seed=1)
    history = model.fit([memory, target_in], target_out, batch_size=8, epochs=3, verbose=0,
                        callbacks=[schedule, Spy()])
    assert seen == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.5])  # steps 0..8
    assert history.history["teacher_forcing_ratio"] == pytest.approx([0.8, 0.5, 0.5])
    assert int(schedule.state.step.numpy()) == 8
    assert all(np.isfinite(history.history["loss"]))
    assert decoder.scheduled_sampling.__doc__ and not any("teacher_forcing" in w.path for w in decoder.weights)


