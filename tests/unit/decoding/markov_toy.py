"""A toy step function for the decoding tests: a second-order Markov model over a small
vocabulary, with a per-example bias and a toy attention over S source positions.

``logits[b] = table[prev, last] + bias[b]`` and ``attention[b] = normalise(weights[last] * mask[b])``.
The state carries the previous token (it depends on the history, so beams must be
reordered correctly) and a constant per-example "memory" (bias and source mask) nest.
The same model in numpy drives a brute-force search over every sequence.
"""

from __future__ import annotations

import itertools

import numpy as np
import tensorflow as tf

from seqpipe.decoding import decode

PAD, START, END = 0, 1, 2


class MarkovToy:
    def __init__(self, table, weights=None):
        table = np.asarray(table, np.float32)
        if table.ndim == 2:  # first order: the same next-token logits whatever came before
            table = np.broadcast_to(table, (len(table),) + table.shape)
        self.table = np.ascontiguousarray(table)  # [V (prev), V (last), V (next)]
        self.weights = None if weights is None else np.asarray(weights, np.float32)  # [V, S]
        self.vocab = self.table.shape[-1]

    @classmethod
    def random(cls, vocab=5, source=3, seed=0, scale=1.5, attention=True):
        rng = np.random.default_rng(seed)
        weights = rng.uniform(0.1, 1.0, size=(vocab, source)) if attention else None
        return cls(rng.normal(size=(vocab, vocab, vocab)) * scale, weights)

    @classmethod
    def from_probs(cls, probs, weights=None):
        """A first-order model from next-token probabilities [V, V]."""
        return cls(np.log(np.asarray(probs, np.float64)), weights)

    def inputs(self, batch=1, seed=1, source_lengths=None):
        """Per-example ``bias`` [B, V] and ``mask`` [B, S] (float 0/1)."""
        rng = np.random.default_rng(seed)
        bias = rng.normal(size=(batch, self.vocab)).astype(np.float32)
        source = 1 if self.weights is None else self.weights.shape[1]
        lengths = source_lengths or [source] * batch
        mask = (np.arange(source)[None, :] < np.asarray(lengths)[:, None]).astype(np.float32)
        return bias, mask

    # -- the model for decode ------------------------------------------------------------
    def initial_state(self, bias, mask):
        prev = tf.fill([tf.shape(bias)[0]], START)
        return {"prev": prev, "memory": {"bias": tf.convert_to_tensor(bias), "mask": tf.convert_to_tensor(mask)}}

    def step(self, tokens, state):
        memory = state["memory"]
        logits = tf.gather_nd(tf.constant(self.table), tf.stack([state["prev"], tokens], -1)) + memory["bias"]
        attention = None
        if self.weights is not None:
            raw = tf.gather(tf.constant(self.weights), tokens)[:, : tf.shape(memory["mask"])[1]] * memory["mask"]
            attention = raw / tf.reduce_sum(raw, axis=-1, keepdims=True)
        return logits, {"prev": tokens, "memory": memory}, attention

    def compiled(self, **kwargs):
        """``decode`` in a tf.function with an unknown batch (and source) size; numpy out."""
        fn = tf.function(
            lambda bias, mask: decode(self.step, self.initial_state(bias, mask), **kwargs),
            input_signature=[tf.TensorSpec([None, self.vocab]), tf.TensorSpec([None, None])])
        return lambda bias, mask: {k: v.numpy() for k, v in fn(bias, mask).items()}

    # -- the same model in numpy -----------------------------------------------------------
    def step_np(self, bias, mask, prev, last):
        logits = self.table[prev, last].astype(np.float64) + bias
        log_probs = logits - np.logaddexp.reduce(logits)
        if self.weights is None:
            return log_probs, np.zeros(1)
        raw = self.weights[last, : len(mask)] * mask
        return log_probs, raw / raw.sum()

    def brute_force(self, bias, mask, max_length, alpha=0.0, beta=0.0):
        """Every sequence (ended by END, or max_length long) as (score, log_prob, tokens), best first."""
        results = []
        for length in range(1, max_length + 1):
            for body in itertools.product([t for t in range(self.vocab) if t != END], repeat=length - 1):
                for last in ([END] if length < max_length else range(self.vocab)):
                    tokens = (*body, last)
                    results.append(self.rank(bias, mask, tokens, alpha, beta) + (tokens,))
        return sorted(results, key=lambda r: -r[0])

    def rank(self, bias, mask, tokens, alpha=0.0, beta=0.0):
        """(GNMT score, summed log-probability) of ``tokens`` (a tuple ending at its end)."""
        log_prob, coverage, prev, last = 0.0, 0.0, START, START
        for token in tokens:
            step_log_probs, attention = self.step_np(bias, mask, prev, last)
            log_prob += step_log_probs[token]
            coverage = coverage + attention
            prev, last = last, token
        lp = ((5 + len(tokens)) / 6) ** alpha
        cp = beta * np.sum(np.log(np.minimum(coverage[coverage > 0], 1.0)))
        return log_prob / lp + cp, log_prob


def hypotheses(out, b=0):
    """The decoded token tuples of example ``b`` (each up to its length), best first."""
    return [tuple(int(t) for t in row[:n]) for row, n in zip(out["tokens"][b], out["lengths"][b])]
