"""Greedy and beam search against brute force, the penalties, batching and eager == graph."""

import numpy as np
import pytest
import tensorflow as tf
from markov_toy import END, START, MarkovToy, hypotheses

from seqpipe.decoding import decode, decode_eager

ARGS = dict(start_id=START, end_id=END)


@pytest.fixture(scope="module")
def toy():
    return MarkovToy.random(vocab=5, source=3, seed=0)


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.0), (1.0, 0.0), (0.0, 0.5), (0.6, 0.3)])
def test_exhaustive_beam_finds_the_brute_force_best(toy, alpha, beta):
    bias, mask = toy.inputs(batch=2, source_lengths=[3, 2])
    max_length, width = 4, toy.vocab ** 4  # wide enough to keep every hypothesis
    out = toy.compiled(**ARGS, max_length=max_length, strategy="beam", beam_width=width, n_best=width,
                       length_penalty=alpha, coverage_penalty=beta)(bias, mask)
    for b in range(2):
        every = toy.brute_force(bias[b], mask[b], max_length, alpha, beta)
        found = np.isfinite(out["scores"][b])  # the beam is wider than there are sequences
        assert hypotheses(out, b)[:5] == [tokens for _, _, tokens in every[:5]]
        assert sorted(np.array(hypotheses(out, b), dtype=object)[found]) == sorted(t for _, _, t in every)
        np.testing.assert_allclose(out["scores"][b, :5], [s for s, _, _ in every[:5]], rtol=1e-5)
        np.testing.assert_allclose(out["log_probs"][b, :5], [lp for _, lp, _ in every[:5]], rtol=1e-5)
        assert np.all(out["scores"][b, :-1] >= out["scores"][b, 1:])


def test_outputs_are_padded_after_the_end_token(toy):
    bias, mask = toy.inputs(batch=4, seed=3)
    out = toy.compiled(**ARGS, max_length=6, strategy="beam", beam_width=3, n_best=3)(bias, mask)
    assert out["tokens"].shape == (4, 3, 6) and out["attention"].shape == (4, 6, 3)
    for b in range(4):
        for row, n, score in zip(out["tokens"][b], out["lengths"][b], out["scores"][b]):
            assert row[n - 1] == END or n == 6
            assert END not in row[: n - 1] and not row[n:].any()
            np.testing.assert_allclose(score, toy.rank(bias[b], mask[b], tuple(row[:n]))[0], rtol=1e-5)
        assert not out["attention"][b, out["lengths"][b, 0]:].any()
        np.testing.assert_allclose(out["attention"][b, : out["lengths"][b, 0]].sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.0), (0.8, 0.4)])
def test_greedy_equals_beam_width_one(toy, alpha, beta):
    bias, mask = toy.inputs(batch=6, seed=2)
    greedy = toy.compiled(**ARGS, max_length=7, strategy="greedy")(bias, mask)
    beam = toy.compiled(**ARGS, max_length=7, strategy="beam", beam_width=1,
                        length_penalty=alpha, coverage_penalty=beta)(bias, mask)
    for key in ("tokens", "lengths", "log_probs", "attention"):
        np.testing.assert_array_equal(greedy[key], beam[key])


def test_length_penalty_favours_longer_outputs():
    # from START: END 0.5, 3 -> 0.45; after 3: END 0.9. [END] = log .5; [3, END] = log .405.
    probs = np.full((5, 5), 0.01)
    probs[START] = [0.02, 0.01, 0.5, 0.45, 0.02]
    probs[3] = [0.02, 0.02, 0.9, 0.03, 0.03]
    toy = MarkovToy.from_probs(probs)
    bias, mask = np.zeros((1, 5), np.float32), np.ones((1, 1), np.float32)
    winners = {}
    for alpha in (0.0, 2.0):
        out = toy.compiled(**ARGS, max_length=4, strategy="beam", beam_width=3, length_penalty=alpha)(bias, mask)
        winners[alpha] = hypotheses(out)[0]
        assert winners[alpha] == toy.brute_force(bias[0], mask[0], 4, alpha)[0][2]
    assert winners == {0.0: (END,), 2.0: (3, END)}


def test_coverage_penalty_favours_outputs_covering_the_source():
    # [END] attends to source position 0 only; [3, END] covers both positions.
    probs = np.full((5, 5), 0.01)
    probs[START] = [0.02, 0.01, 0.6, 0.35, 0.02]
    probs[3] = [0.02, 0.02, 0.9, 0.03, 0.03]
    weights = np.full((5, 2), 0.5)
    weights[START], weights[3] = [0.95, 0.05], [0.05, 0.95]
    toy = MarkovToy.from_probs(probs, weights)
    bias, mask = np.zeros((1, 5), np.float32), np.ones((1, 2), np.float32)
    winners = {}
    for beta in (0.0, 0.5):
        out = toy.compiled(**ARGS, max_length=4, strategy="beam", beam_width=3, coverage_penalty=beta)(bias, mask)
        winners[beta] = hypotheses(out)[0]
        assert winners[beta] == toy.brute_force(bias[0], mask[0], 4, 0.0, beta)[0][2]
    assert winners == {0.0: (END,), 0.5: (3, END)}


@pytest.mark.parametrize("params", [dict(strategy="greedy"),
                                    dict(strategy="beam", beam_width=3, n_best=2, length_penalty=0.7,
                                         coverage_penalty=0.4)])
def test_batch_entries_are_independent(toy, params):
    lengths = [3, 1, 2, 3]
    bias, mask = toy.inputs(batch=4, seed=5, source_lengths=lengths)
    run = toy.compiled(**ARGS, max_length=6, **params)
    batch = run(bias, mask)
    for b, n in enumerate(lengths):  # alone, and without the source padding
        alone = run(bias[b: b + 1], mask[b: b + 1, :n])
        np.testing.assert_array_equal(batch["tokens"][b], alone["tokens"][0])
        np.testing.assert_array_equal(batch["lengths"][b], alone["lengths"][0])
        np.testing.assert_allclose(batch["scores"][b], alone["scores"][0], rtol=1e-6)
        np.testing.assert_allclose(batch["attention"][b, :, :n], alone["attention"][0], rtol=1e-6)
        assert not batch["attention"][b, :, n:].any()


@pytest.mark.parametrize("params", [dict(strategy="greedy"),
                                    dict(strategy="beam", beam_width=4, n_best=3, length_penalty=0.6,
                                         coverage_penalty=0.2)])
def test_eager_reference_equals_the_compiled_loop(toy, params):
    bias, mask = toy.inputs(batch=3, seed=4, source_lengths=[3, 2, 3])
    compiled = toy.compiled(**ARGS, max_length=8, **params)(bias, mask)
    eager = decode_eager(toy.step, toy.initial_state(bias, mask), **ARGS, max_length=8, **params)
    for key, value in eager.items():
        np.testing.assert_array_equal(value.numpy(), compiled[key], err_msg=key)


def test_the_loop_stops_when_every_hypothesis_has_finished():
    probs = np.full((5, 5), 0.02)
    probs[:, END] = 0.92  # almost surely finished after a token or two
    toy = MarkovToy.from_probs(probs)
    calls = tf.Variable(0)

    def counting_step(tokens, state):
        calls.assign_add(1)
        return toy.step(tokens, state)

    bias, mask = toy.inputs(batch=2)
    run = tf.function(lambda b, m: decode(counting_step, toy.initial_state(b, m), **ARGS, max_length=50,
                                          strategy="beam", beam_width=2, n_best=2))
    out = run(bias, mask)
    assert calls.numpy() == out["lengths"].numpy().max() < 50
    calls.assign(0)
    eager = decode_eager(counting_step, toy.initial_state(bias, mask), **ARGS, max_length=50,
                         strategy="beam", beam_width=2, n_best=2)
    assert calls.numpy() == eager["lengths"].numpy().max()


def test_a_step_function_without_attention():
    toy = MarkovToy.random(attention=False, seed=3)
    bias, mask = toy.inputs(batch=2)
    out = toy.compiled(**ARGS, max_length=5, strategy="beam", beam_width=2, coverage_penalty=1.0)(bias, mask)
    plain = toy.compiled(**ARGS, max_length=5, strategy="beam", beam_width=2)(bias, mask)
    assert out["attention"].shape == (2, 5, 0)
    np.testing.assert_array_equal(out["tokens"], plain["tokens"])
    np.testing.assert_array_equal(out["scores"], plain["scores"])


def test_bad_arguments():
    toy = MarkovToy.random()
    state = toy.initial_state(*toy.inputs())
    with pytest.raises(KeyError, match="unknown decoding strategy"):
        decode_eager(toy.step, state, **ARGS, max_length=3, strategy="beem")
    with pytest.raises(ValueError, match="max_length"):
        decode_eager(toy.step, state, **ARGS, max_length=0, strategy="greedy")
    with pytest.raises(ValueError):
        decode_eager(toy.step, state, **ARGS, max_length=3, strategy="greedy", beam_width=2)
