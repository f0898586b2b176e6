import numpy as np
import pytest
from markov_toy import END, START, MarkovToy

from seqpipe.decoding import decode_eager

ARGS = dict(start_id=START, end_id=END, max_length=8)


@pytest.fixture(scope="module")
def setup():
    toy = MarkovToy.random(vocab=8, source=3, seed=7, scale=1.0)
    bias, mask = toy.inputs(batch=6, seed=8)
    return toy, bias, mask, toy.compiled(**ARGS, strategy="greedy")(bias, mask)


def sample(setup, **params):
    toy, bias, mask, _ = setup
    return toy.compiled(**ARGS, strategy="sampling", **params)(bias, mask)


def test_a_seed_gives_the_same_samples_in_graph_and_eager(setup):
    toy, bias, mask, _ = setup
    first, again = sample(setup, seed=3), sample(setup, seed=3)
    eager = decode_eager(toy.step, toy.initial_state(bias, mask), **ARGS, strategy="sampling", seed=3)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
        np.testing.assert_array_equal(first[key], eager[key].numpy())
    assert not np.array_equal(first["tokens"], sample(setup, seed=4)["tokens"])


@pytest.mark.parametrize("params", [dict(top_k=1), dict(top_p=1e-6), dict(top_k=1, temperature=5.0)])
def test_filters_down_to_one_token_equal_greedy(setup, params):
    out, greedy = sample(setup, seed=11, **params), setup[3]
    for key in ("tokens", "lengths", "log_probs"):
        np.testing.assert_array_equal(out[key], greedy[key])


def test_a_high_temperature_departs_from_greedy(setup):
    out = sample(setup, seed=11, temperature=50.0)
    assert not np.array_equal(out["tokens"], setup[3]["tokens"])
    np.testing.assert_array_equal(out["scores"], out["log_probs"])


def test_top_k_and_top_p_restrict_the_support(setup):
    toy, bias, mask, _ = setup
    from seqpipe.decoding.strategies import top_k_filter, top_p_filter

    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], np.float32))
    assert np.isfinite(top_k_filter(logits, 2).numpy()).tolist() == [[True, True, False, False]]
    assert np.isfinite(top_k_filter(logits, 9).numpy()).all()
    assert np.isfinite(top_p_filter(logits, 0.7).numpy()).tolist() == [[True, True, False, False]]
    assert np.isfinite(top_p_filter(logits, 0.5).numpy()).tolist() == [[True, False, False, False]]
