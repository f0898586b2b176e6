"""The built-in strategies: greedy, beam (GNMT penalties) and sampling.

Shapes: B = batch, K = hypotheses per example, V = vocabulary, S = source length.
"""

from __future__ import annotations

import tensorflow as tf

from seqpipe.decoding.base import Candidates, Strategy
from seqpipe.decoding.config import BeamConfig, GreedyConfig, SamplingConfig


class Greedy(Strategy):
    """The most probable token at every step (one hypothesis per example)."""

    Config = GreedyConfig

    def select(self, step, step_log_probs, candidates: Candidates):
        token = tf.argmax(step_log_probs, axis=-1, output_type=tf.int32)  # [B, 1]
        return tf.zeros_like(token), token


class BeamSearch(Strategy):
    """Beam search ranking by the GNMT score ``log P(Y) / lp(Y) + cp(X; Y)``.

    The score is the ranking function everywhere (OpenNMT-py's choice, with GNMT's
    formulas): every step keeps the K best one-token extensions of the beam by the score
    they would have as they stand, a finished hypothesis competing with its frozen score;
    the final hypotheses are sorted by it. GNMT instead ranks growing hypotheses by
    log P alone and applies lp and cp to finished ones only; both agree when nothing is
    pruned, and with both penalties 0 the score is the plain log-probability.

    ``lp(Y) = ((5 + |Y|) / 6) ** alpha`` with |Y| the length including the end token;
    ``cp = beta * sum_i log(min(sum_t a_ti, 1))`` over source positions i whose summed
    attention is > 0 (padded positions, where a masked softmax gives exactly 0, do not
    count). A growing hypothesis is scored with its length and coverage so far, so its cp
    can only rise (towards 0) as it grows: beta > 0 makes pruning lean towards finished
    hypotheses that already cover the source.
    """

    Config = BeamConfig

    @property
    def width(self) -> int:
        return self.config.beam_width

    @property
    def n_best(self) -> int:
        return self.config.n_best

    def length_penalty(self, lengths):
        """lp, float32 with the shape of ``lengths``; ``None`` when alpha is 0."""
        if self.config.length_penalty == 0:
            return None
        # times 1/6 rather than / 6: graph mode rewrites a division by a constant into this
        # product, which differs in the last bit; writing it so keeps eager == graph.
        return tf.pow((5.0 + tf.cast(lengths, tf.float32)) * (1.0 / 6.0), self.config.length_penalty)

    def coverage_penalty(self, coverage):
        """cp [B, K] from coverage [B, K, S]; ``None`` when beta is 0."""
        if self.config.coverage_penalty == 0:
            return None
        logs = tf.where(coverage > 0, tf.math.log(tf.minimum(coverage, 1.0)), 0.0)
        return self.config.coverage_penalty * tf.reduce_sum(logs, axis=-1)

    def score(self, log_probs, lengths, coverage):
        return self._penalised(log_probs, self.length_penalty(lengths), self.coverage_penalty(coverage))

    @staticmethod
    def _penalised(log_probs, lp, cp):
        scores = log_probs if lp is None else log_probs / lp
        return scores if cp is None else scores + cp

    def select(self, step, step_log_probs, candidates: Candidates):
        lp = self.length_penalty(candidates.lengths)
        cp = self.coverage_penalty(candidates.coverage)
        scores = self._penalised(candidates.log_probs,
                                 None if lp is None else lp[..., None],
                                 None if cp is None else cp[..., None])  # [B, K, V]
        vocab = tf.shape(scores)[2]
        _, best = tf.math.top_k(tf.reshape(scores, [tf.shape(scores)[0], -1]), k=self.width)
        return best // vocab, best % vocab


class Sampling(Strategy):
    """Draws each token from the (temperature-scaled, top-k and top-p filtered) distribution.

    Randomness is stateless: step t uses the seed pair ``(seed, t)``, so a seed, a model
    and inputs give the same samples in eager and graph mode. A row's draw depends on its
    position in the batch. Scores are the plain log-probabilities under the model.
    """

    Config = SamplingConfig

    def select(self, step, step_log_probs, candidates: Candidates):
        cfg = self.config
        logits = step_log_probs[:, 0, :] / cfg.temperature  # [B, V]
        if cfg.top_k > 0:
            logits = top_k_filter(logits, cfg.top_k)
        if cfg.top_p < 1:
            logits = top_p_filter(logits, cfg.top_p)
        seed = tf.stack([tf.constant(cfg.seed, tf.int64), tf.cast(step, tf.int64)])
        token = tf.random.stateless_categorical(logits, 1, seed=seed, dtype=tf.int32)  # [B, 1]
        return tf.zeros_like(token), token


def top_k_filter(logits, k: int):
    """Set all but the ``k`` largest logits of each row [B, V] to -inf (ties at the k-th kept)."""
    k = tf.minimum(k, tf.shape(logits)[-1])
    kth = tf.math.top_k(logits, k=k).values[:, -1:]
    return tf.where(logits < kth, float("-inf"), logits)


def top_p_filter(logits, p: float):
    """Keep, per row [B, V], the most probable tokens until their probability reaches ``p``.

    The most probable token is always kept; ties with the last kept logit are kept too.
    """
    ordered = tf.sort(logits, axis=-1, direction="DESCENDING")
    before = tf.math.cumsum(tf.nn.softmax(ordered, axis=-1), axis=-1, exclusive=True)
    threshold = tf.reduce_min(tf.where(before < p, ordered, float("inf")), axis=-1, keepdims=True)
    return tf.where(logits < threshold, float("-inf"), logits)
