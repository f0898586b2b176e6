import numpy as np
import tensorflow as tf
from markov_toy import END, START, MarkovToy

from seqpipe.decoding import decode


class Translator(tf.Module):
    def __init__(self, toy):
        super().__init__()
        self.toy = toy

    @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.float32), tf.TensorSpec([None, None], tf.float32)])
    def translate(self, bias, mask):
        return decode(self.toy.step, self.toy.initial_state(bias, mask), start_id=START, end_id=END,
                      max_length=6, strategy="beam", beam_width=3, n_best=2, length_penalty=0.6,
                      coverage_penalty=0.2)


def test_saved_model_round_trip(tmp_path):
    toy = MarkovToy.random(vocab=5, source=3, seed=0)
    module = Translator(toy)
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.translate})
    loaded = tf.saved_model.load(str(tmp_path))
    for batch in (1, 3):
        bias, mask = toy.inputs(batch=batch, seed=batch, source_lengths=[3, 1, 2][:batch])
        expected = module.translate(bias, mask)
        for out in (loaded.translate(bias, mask), loaded.signatures["serving_default"](bias=bias, mask=mask)):
            assert sorted(out) == sorted(expected)
            for key in expected:
                np.testing.assert_array_equal(out[key].numpy(), expected[key].numpy(), err_msg=key)


def test_the_loop_compiles_with_xla():
    toy = MarkovToy.random(vocab=5, source=3, seed=0)
    bias, mask = toy.inputs(batch=3, source_lengths=[3, 1, 2])
    kwargs = dict(start_id=START, end_id=END, max_length=6, strategy="beam", beam_width=3, n_best=2,
                  length_penalty=0.6, coverage_penalty=0.2)
    xla = tf.function(lambda b, m: decode(toy.step, toy.initial_state(b, m), **kwargs), jit_compile=True)(bias, mask)
    expected = toy.compiled(**kwargs)(bias, mask)
    for key in ("tokens", "lengths"):
        np.testing.assert_array_equal(xla[key].numpy(), expected[key])
    for key in ("scores", "log_probs", "attention"):  # XLA's log-softmax may differ in the last bit
        np.testing.assert_allclose(xla[key].numpy(), expected[key], rtol=1e-5, atol=1e-7)
