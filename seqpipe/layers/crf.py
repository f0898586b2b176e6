"""Linear-chain conditional random field (CRF) output layer for sequence labelling, and its loss.

The layer holds the tag transition, start and end scores; its ``call`` is the identity on the
per-token potentials (so ``model.predict`` gives potentials). Training uses :class:`CRFLoss`
(the negative log-likelihood of the gold path per real token); labelling uses :meth:`CRF.decode`
(Viterbi). All recursions run over a dynamic time axis with ``tf.scan``/``tf.foldl``, so they
trace into a ``tf.function`` with ``T = None`` and export into a SavedModel.

Masks are boolean ``(batch, time)`` and right-padded: a row of length ``n`` is ``True`` at its
first ``n`` positions. Potentials and tags at padded positions have no effect.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="seqpipe")
class CRF(keras.layers.Layer):
    """Linear-chain conditional random field over per-token tag potentials.

    The score of a tag path ``y`` for a row of length ``n > 0`` is
    ``start[y_0] + sum_t potentials[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t] + end[y_{n-1}]``
    and ``p(y | potentials) = exp(score(y)) / Z``. A row of length 0 has one (empty) path with
    score 0, so its log-likelihood, ``log Z`` and Viterbi score are all 0.

    Args:
        num_tags: number of tags ``K``; the potentials' last axis.

    Weights (float32, trainable, initialised to zeros):
        transitions: ``(K, K)``; ``transitions[i, j]`` scores tag ``i`` followed by tag ``j``.
        start: ``(K,)``, the score of the tag at the first real position.
        end: ``(K,)``, the score of the tag at the last real position.

    Call arguments:
        potentials: ``(batch, time, K)`` unnormalised tag scores (any float dtype).
        mask: boolean ``(batch, time)``; ignored by ``call`` (which is the identity) and
            not propagated to the output.

    Returns:
        The potentials cast to float32. The output carries no Keras mask, so Keras does not
        re-apply the padding mask to the scalar :class:`CRFLoss`.
    """

    def __init__(self, num_tags: int, **kwargs):
        super().__init__(**kwargs)
        self.num_tags = int(num_tags)
        if self.num_tags < 1:
            raise ValueError(
                f"Invalid value for argument num_tags. Expected a positive integer. Received: num_tags={num_tags}")
        # The weights depend on num_tags only: build now, so log_likelihood/decode/set_weights
        # work on a layer that has not been called yet.
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        k = self.num_tags
        self.transitions = self.add_weight(shape=(k, k), initializer="zeros", dtype="float32", name="transitions")
        self.start = self.add_weight(shape=(k,), initializer="zeros", dtype="float32", name="start")
        self.end = self.add_weight(shape=(k,), initializer="zeros", dtype="float32", name="end")

    def call(self, potentials, mask=None):
        # tf.identity: a new tensor, so Keras does not find the input's mask already attached.
        return tf.identity(tf.cast(potentials, tf.float32))

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(num_tags=self.num_tags)
        return config

    # ------------------------------------------------------------------ internals

    def _scores(self):
        """The weights as float32 tensors (transitions, start, end)."""
        return (tf.cast(tf.convert_to_tensor(self.transitions), tf.float32),
                tf.cast(tf.convert_to_tensor(self.start), tf.float32),
                tf.cast(tf.convert_to_tensor(self.end), tf.float32))

    def _prepare(self, potentials, mask):
        """float32 potentials zeroed at padding, and a bool mask (all True when None)."""
        potentials = tf.cast(potentials, tf.float32)
        if mask is None:
            mask = tf.ones(tf.shape(potentials)[:2], tf.bool)
        mask = tf.cast(mask, tf.bool)
        potentials = tf.where(mask[:, :, None], potentials, tf.zeros_like(potentials))
        return potentials, mask

    def _time_major(self, potentials, mask):
        """Time-major inputs with one extra padded step (so the scans never see ``T = 0``)."""
        potentials = tf.pad(potentials, [[0, 0], [0, 1], [0, 0]])
        mask = tf.pad(mask, [[0, 0], [0, 1]], constant_values=False)
        steps = tf.shape(mask)[1]
        first = tf.equal(tf.range(steps), 0)
        return tf.transpose(potentials, [1, 0, 2]), tf.transpose(mask), first

    # ------------------------------------------------------------------ public API

    def log_partition(self, potentials, mask) -> tf.Tensor:
        """``(batch,)`` log Z, the log-sum-exp of the scores of all tag paths (forward algorithm)."""
        potentials, mask = self._prepare(potentials, mask)
        transitions, start, end = self._scores()
        pot_tm, mask_tm, first = self._time_major(potentials, mask)

        def step(alpha, inputs):
            pot_t, mask_t, first_t = inputs
            moved = tf.reduce_logsumexp(alpha[:, :, None] + transitions[None], axis=1)
            new = tf.where(first_t, start[None] + pot_t, moved + pot_t)
            return tf.where(mask_t[:, None], new, alpha)

        alpha = tf.foldl(step, (pot_tm, mask_tm, first), initializer=tf.zeros_like(pot_tm[0]))
        log_z = tf.reduce_logsumexp(alpha + end[None], axis=1)
        return tf.where(tf.reduce_any(mask, axis=1), log_z, tf.zeros_like(log_z))

    def path_score(self, potentials, tags, mask) -> tf.Tensor:
        """``(batch,)`` unnormalised score of the given tag paths (tags int ``(batch, time)``)."""
        potentials, mask = self._prepare(potentials, mask)
        transitions, start, end = self._scores()
        tags = tf.where(mask, tf.cast(tags, tf.int32), tf.zeros_like(mask, tf.int32))
        maskf = tf.cast(mask, tf.float32)
        unary = tf.reduce_sum(tf.gather(potentials, tags, batch_dims=2) * maskf, axis=1)
        first = tf.reduce_sum(tf.gather(start, tags[:, :1]) * maskf[:, :1], axis=1)
        pairs = tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1)
        binary = tf.reduce_sum(tf.gather_nd(transitions, pairs) * maskf[:, :-1] * maskf[:, 1:], axis=1)
        next_real = tf.pad(maskf[:, 1:], [[0, 0], [0, 1]])
        last = tf.reduce_sum(tf.gather(end, tags) * maskf * (1.0 - next_real), axis=1)
        return unary + first + binary + last

    def log_likelihood(self, potentials, tags, mask) -> tf.Tensor:
        """``(batch,)`` log p(tags | potentials) over the real positions: path score - log Z."""
        return self.path_score(potentials, tags, mask) - self.log_partition(potentials, mask)

    def decode(self, potentials, mask) -> tuple[tf.Tensor, tf.Tensor]:
        """Viterbi decoding.

        Returns:
            ``(tags, scores)``: the best tag ids, int32 ``(batch, time)`` with 0 at padded
            positions, and the best path's score, float32 ``(batch,)`` (0 for empty rows).
        """
        potentials, mask = self._prepare(potentials, mask)
        transitions, start, end = self._scores()
        pot_tm, mask_tm, first = self._time_major(potentials, mask)
        batch = tf.shape(potentials)[0]
        keep = tf.broadcast_to(tf.range(self.num_tags, dtype=tf.int32)[None], [batch, self.num_tags])

        def step(carry, inputs):
            delta, _ = carry
            pot_t, mask_t, first_t = inputs
            scores = delta[:, :, None] + transitions[None]  # (batch, previous tag, tag)
            best_prev = tf.argmax(scores, axis=1, output_type=tf.int32)
            new = tf.where(first_t, start[None] + pot_t, tf.reduce_max(scores, axis=1) + pot_t)
            # Padded steps carry delta over and point each tag back to itself.
            return (tf.where(mask_t[:, None], new, delta),
                    tf.where(mask_t[:, None] & ~first_t, best_prev, keep))

        deltas, pointers = tf.scan(step, (pot_tm, mask_tm, first), initializer=(tf.zeros_like(pot_tm[0]), keep))
        final = deltas[-1] + end[None]
        last_tag = tf.argmax(final, axis=1, output_type=tf.int32)
        score = tf.reduce_max(final, axis=1)

        def back(tag, pointer_t):
            return tf.gather(pointer_t, tag, batch_dims=1)

        # previous[t] is the tag at t - 1 on the best path; the tag at the last step is last_tag.
        previous = tf.scan(back, pointers, initializer=last_tag, reverse=True)
        tags = tf.transpose(tf.concat([previous[1:], last_tag[None]], axis=0))[:, :-1]
        tags = tf.where(mask, tags, tf.zeros_like(tags))
        score = tf.where(tf.reduce_any(mask, axis=1), score, tf.zeros_like(score))
        return tags, score


@keras.saving.register_keras_serializable(package="seqpipe")
class CRFLoss(keras.losses.Loss):
    """Negative log-likelihood of the gold tag paths per real token, for a model ending in :class:`CRF`.

    Args:
        crf: the model's :class:`CRF` layer (its weights score the paths). It is not
            serialized: a loss rebuilt from its config has ``crf=None`` and raises a
            ``ValueError`` when called (load saved models with ``compile=False``).
        name: the loss name.

    Call arguments:
        y_true: int ``(batch, time)``; 0 is padding and tag ``i`` is stored as ``i + 1``.
        y_pred: the CRF layer's output, potentials ``(batch, time, num_tags)``.

    Returns:
        A scalar: sum over the batch of ``-log p(tags | potentials)`` divided by the number
        of real tokens (0 when there are none). Keras' reduction leaves a scalar unchanged.
    """

    def __init__(self, crf: CRF | None = None, name="crf_loss", **kwargs):
        kwargs.setdefault("reduction", "sum_over_batch_size")
        super().__init__(name=name, **kwargs)
        self.crf = crf

    def call(self, y_true, y_pred):
        if self.crf is None:
            raise ValueError(
                "CRFLoss has no CRF layer (crf=None), e.g. because it was rebuilt from a saved "
                "config. Pass the model's CRF layer: CRFLoss(crf_layer), or load with compile=False.")
        y_true = tf.cast(y_true, tf.int32)
        if y_true.shape.rank == 3:
            y_true = tf.squeeze(y_true, axis=-1)
        mask = y_true > 0
        tags = tf.maximum(y_true - 1, 0)
        nll = -tf.reduce_sum(self.crf.log_likelihood(y_pred, tags, mask))
        return nll / tf.maximum(tf.reduce_sum(tf.cast(mask, tf.float32)), 1.0)

    def get_config(self):
        return {**super().get_config(), "crf": None}
