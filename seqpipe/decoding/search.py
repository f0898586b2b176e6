"""The search loop shared by every strategy: ``decode`` (graph) and ``decode_eager`` (reference).

Shapes: B = batch (may be unknown), K = hypotheses per example (the strategy's width),
N = B * K (hypothesis k of example b is row b * K + k), T = ``max_length``, V = vocabulary,
S = source length.

A hypothesis is finished once it has produced ``end_id`` or T tokens. Finished hypotheses
are frozen: their step log-probabilities become 0 for padding (token 0) and -inf for every
other token, and their attention is not recorded, so they only extend with padding at zero
cost while still competing (beam search) with the growing ones.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import tensorflow as tf

from seqpipe.decoding.base import STRATEGIES, Candidates, Strategy

PAD = 0

StepFn = Callable[[Any, Any], tuple[Any, Any, Any]]


class Carry(NamedTuple):
    """The loop variables; every tensor but ``step`` has leading dimension N."""

    step: Any  # int32 scalar: tokens produced so far
    tokens: Any  # int32 [N]: the last token, fed to step_fn next
    state: Any  # the step function's nest
    sequences: Any  # int32 [N, T]
    attention: Any  # float32 [N, T, S] ([N, T, 1] zeros before the first step)
    coverage: Any  # float32 [N, S]: attention summed over steps ([N, 1] zeros before the first)
    log_probs: Any  # float32 [N]
    lengths: Any  # int32 [N]
    finished: Any  # bool [N]


def decode(step_fn: StepFn, initial_state, *, start_id: int, end_id: int, max_length: int,
           strategy: str, **params) -> dict[str, tf.Tensor]:
    """Decode with a ``tf.while_loop`` that stops once every hypothesis has finished.

    ``step_fn(tokens int32 [N], state) -> (logits [N, V], new_state, attention [N, S] or
    None)``; ``initial_state`` is a nest of tensors with leading dimension B (constant
    per-example tensors such as the encoder memory belong in it). ``strategy`` names an
    entry of ``STRATEGIES`` and ``params`` are its config keys. Call it inside a
    ``tf.function`` (a batch of unknown size is fine; the result is exportable).

    Returns a dict of ``tokens`` int32 [B, n, T] (the end token included, 0 after it),
    ``lengths`` int32 [B, n] (tokens produced, the end token included), ``scores`` float32
    [B, n] (the strategy's ranking score, best first), ``log_probs`` float32 [B, n] (summed
    token log-probabilities) and ``attention`` float32 [B, T, S] of the best hypothesis
    (zeros after it finished; [B, T, 0] when step_fn returns no attention). n is the
    strategy's ``n_best`` (1 but for beam search). A hypothesis that reaches T tokens
    without the end token is ranked as it stands (length T). A beam wider than the number
    of distinct hypotheses fills its spare slots with score -inf. Token 0 is padding: a
    model should not predict it (it would be taken as an ordinary token).

    ``step_fn`` is traced twice: once for the first step, which runs before the loop so
    that the loop variables keep their shapes (as XLA, ``jit_compile=True``, requires).
    """
    search = _Search(step_fn, start_id, end_id, max_length, make_strategy(strategy, **params))
    carry = search.step(search.initial(initial_state))
    (carry,) = tf.while_loop(
        lambda c: search.running(c), lambda c: (search.step(c),), (carry,),
        shape_invariants=(search.invariants(carry),), maximum_iterations=max_length - 1)
    return search.finish(carry)


def decode_eager(step_fn: StepFn, initial_state, *, start_id: int, end_id: int, max_length: int,
                 strategy: str, **params) -> dict[str, tf.Tensor]:
    """The reference for :func:`decode`: the same steps, run eagerly in a Python loop.

    Call it outside ``tf.function``; ``step_fn`` then runs eagerly once per token.
    Arguments and result are those of :func:`decode`.
    """
    search = _Search(step_fn, start_id, end_id, max_length, make_strategy(strategy, **params))
    carry = search.initial(initial_state)
    while bool(search.running(carry)):
        carry = search.step(carry)
    return search.finish(carry)


def make_strategy(strategy: str, **params) -> Strategy:
    """The registered strategy ``strategy`` with its config validated from ``params``."""
    cls = STRATEGIES.get(strategy)
    return cls(cls.Config(**params))


class _Search:
    """One decoding call: the loop's initial values, condition, body and result."""

    def __init__(self, step_fn: StepFn, start_id: int, end_id: int, max_length: int, strategy: Strategy):
        if int(max_length) < 1:
            raise ValueError(f"max_length must be >= 1; got {max_length}")
        self.step_fn, self.strategy = step_fn, strategy
        self.start_id, self.end_id, self.max_length = int(start_id), int(end_id), int(max_length)
        self.width = strategy.width
        self.has_attention = False  # set while the body is traced (or first run)

    # -- layout -------------------------------------------------------------------------
    def split(self, x):
        """[N, ...] -> [B, K, ...]."""
        return tf.reshape(x, tf.concat([[-1, self.width], tf.shape(x)[1:]], axis=0))

    def merge(self, x):
        """[B, K, ...] -> [N, ...]."""
        return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], axis=0))

    # -- loop ---------------------------------------------------------------------------
    def initial(self, initial_state) -> Carry:
        state = tf.nest.map_structure(tf.convert_to_tensor, initial_state)
        leaves = tf.nest.flatten(state)
        if not leaves:
            raise ValueError("initial_state must hold at least one tensor (its leading dimension is the batch)")
        batch = tf.shape(leaves[0])[0]
        if self.width > 1:
            state = tf.nest.map_structure(lambda x: tf.repeat(x, self.width, axis=0), state)
        n, length = batch * self.width, self.max_length
        first = tf.constant([0.0] + [float("-inf")] * (self.width - 1))  # identical beams: keep one
        return Carry(
            step=tf.constant(0),
            tokens=tf.fill([n], self.start_id),
            state=state,
            sequences=tf.zeros([n, length], tf.int32),
            attention=tf.zeros([n, length, 1]),
            coverage=tf.zeros([n, 1]),
            log_probs=tf.tile(first, [batch]),
            lengths=tf.zeros([n], tf.int32),
            finished=tf.zeros([n], tf.bool),
        )

    def invariants(self, carry: Carry) -> Carry:
        """Shape invariants: N may be unknown."""
        def rows(x):
            return tf.TensorShape([None]).concatenate(x.shape[1:])

        return Carry(step=tf.TensorShape([]), **{
            name: tf.nest.map_structure(rows, value) for name, value in carry._asdict().items() if name != "step"})

    def running(self, c: Carry):
        return tf.logical_and(c.step < self.max_length, tf.logical_not(tf.reduce_all(c.finished)))

    def step(self, c: Carry) -> Carry:
        """Run step_fn once, let the strategy pick K extensions per example, apply them."""
        logits, state, attention = self.step_fn(c.tokens, c.state)
        done = c.finished[:, None]
        step_log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        frozen = tf.where(tf.range(tf.shape(step_log_probs)[-1]) == PAD, 0.0, float("-inf"))
        step_log_probs = tf.where(done, frozen, step_log_probs)  # [N, V]
        self.has_attention = attention is not None
        if attention is None:
            attention = tf.zeros_like(c.coverage)
        attention = tf.where(done, 0.0, tf.cast(attention, tf.float32))  # [N, S]
        coverage = c.coverage + attention
        lengths = c.lengths + tf.cast(tf.logical_not(c.finished), tf.int32)

        candidates = Candidates(self.split(c.log_probs[:, None] + step_log_probs),
                                self.split(lengths), self.split(coverage))
        parent, token = self.strategy.select(c.step, self.split(step_log_probs), candidates)
        token = tf.reshape(token, [-1])

        rows = (state, c.sequences, c.attention, coverage, attention, c.log_probs,
                step_log_probs, lengths, c.finished)
        if self.width > 1:  # reorder every per-hypothesis tensor by the parents
            index = self.merge(parent + tf.range(tf.shape(parent)[0])[:, None] * self.width)
            rows = tf.nest.map_structure(lambda x: tf.gather(x, index), rows)
        state, sequences, history, coverage, attention, log_probs, step_log_probs, lengths, finished = rows

        # A wider beam than there are hypotheses picks -inf extensions; one of a finished
        # hypothesis keeps its -inf cost but is written as padding.
        log_probs = log_probs + tf.gather(step_log_probs, token, batch_dims=1)
        token = tf.where(finished, PAD, token)
        now = tf.range(self.max_length) == c.step  # [T]
        sequences = tf.where(now[None, :], token[:, None], sequences)
        if self.has_attention:
            history = tf.where(now[None, :, None], attention[:, None, :], history)
        return Carry(step=c.step + 1, tokens=token, state=state, sequences=sequences,
                     attention=history, coverage=coverage, log_probs=log_probs, lengths=lengths,
                     finished=tf.logical_or(finished, tf.equal(token, self.end_id)))

    def finish(self, c: Carry) -> dict[str, tf.Tensor]:
        """Rank each example's hypotheses by the strategy's score; keep the n best."""
        scores = self.strategy.score(self.split(c.log_probs), self.split(c.lengths), self.split(c.coverage))
        order = tf.argsort(scores, axis=-1, direction="DESCENDING", stable=True)[:, : self.strategy.n_best]

        def pick(x):
            return tf.gather(self.split(x), order, batch_dims=1)

        attention = tf.gather(self.split(c.attention), order[:, 0], batch_dims=1)  # [B, T, S]
        if not self.has_attention:
            attention = attention[:, :, :0]
        return {"tokens": pick(c.sequences), "lengths": pick(c.lengths),
                "scores": tf.gather(scores, order, batch_dims=1), "log_probs": pick(c.log_probs),
                "attention": attention}
