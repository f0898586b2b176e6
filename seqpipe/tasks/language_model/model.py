"""Stepping a recurrent language model: scoring and generating with the cells of the Keras model the embed/encode/lm
stages built (:class:`LanguageModel`); the Transformer's is :mod:`.transformer_lm`."""

from __future__ import annotations

import keras
import tensorflow as tf

from seqpipe.decoding import decode
from seqpipe.text import END_ID, PAD_ID, START_ID, UNK_ID


class LanguageModel:
    """Step, score and generate with the Keras model the embed/encode/lm stages built.

    Stepping uses the recurrent layers' own cells (shared weights), the residual additions
    where the stack has them, and the output layer, so it matches the training model.
    """

    def __init__(self, model: keras.Model, encoder):
        self.model, self.encoder = model, encoder
        self.embedding = model.get_layer("embedding")
        self.rnns = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
        if any(isinstance(layer, keras.layers.Bidirectional) for layer in model.layers):
            raise ValueError("a language model cannot use a bidirectional encoder")
        names = {layer.name for layer in model.layers}
        self.residual = [f"encoder_residual_{i}" in names for i in range(len(self.rnns))]
        self.head = model.get_layer("lm_logits")
        self.separator = "" if encoder.kind in ("char", "sentencepiece") else " "
        self._functions: dict = {}

    # -- stepping ------------------------------------------------------------------------
    def _sizes(self, cell) -> list[int]:
        size = cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    def zero_state(self, batch) -> dict:
        state = {}
        for i, rnn in enumerate(self.rnns):
            for k, size in enumerate(self._sizes(rnn.cell)):
                state[f"s{i}_{k}"] = tf.zeros([batch, size])
        return state

    def advance(self, tokens, state: dict):
        """One token per row -> (float32 logits, new recurrent state)."""
        x = self.embedding(tokens)
        new = {}
        for i, rnn in enumerate(self.rnns):
            sizes = self._sizes(rnn.cell)
            previous = [state[f"s{i}_{k}"] for k in range(len(sizes))]
            y, states = rnn.cell(x, previous if len(sizes) > 1 else previous[0], training=False)
            states = states if isinstance(states, (list, tuple)) else [states]
            for k in range(len(sizes)):
                new[f"s{i}_{k}"] = states[k]
            x = x + y if self.residual[i] else y
        return tf.cast(self.head(x), tf.float32), new

    def prime(self, prompts: tf.Tensor, max_length: int = 0) -> dict:
        """State after ``[START] + prompt[:-1]``, with the prompt's last token pending (``max_length``: the tokens
        that will follow, which a recurrent state does not need to know)."""
        ids = self.encoder.tokenize(prompts, truncate=False)
        ids = tf.concat([tf.fill([ids.nrows(), 1], tf.constant(START_ID, tf.int64)), ids], axis=1)
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        dense = tf.cast(ids.to_tensor(), tf.int32)
        state = self.zero_state(tf.shape(dense)[0])

        def body(t, state):
            _, new = self.advance(dense[:, t], state)
            keep = (t < lengths - 1)[:, None]
            return t + 1, {k: tf.where(keep, new[k], state[k]) for k in state}

        _, state = tf.while_loop(lambda t, s: t < tf.shape(dense)[1] - 1, body, (tf.constant(0), state))
        state["pending"] = tf.gather(dense, lengths - 1, batch_dims=1)
        state["fresh"] = tf.ones_like(lengths, dtype=tf.bool)
        return state

    def step(self, tokens, state):
        """decoding step_fn: the first step feeds each row's pending prompt token."""
        tokens = tf.where(state["fresh"], state["pending"], tokens)
        logits, new = self.advance(tokens, state)
        # [PAD], [UNK] and [START] are never a next token worth generating
        never = tf.one_hot([PAD_ID, UNK_ID, START_ID], tf.shape(logits)[-1], on_value=True, off_value=False)
        logits = tf.where(tf.reduce_any(never, axis=0), tf.cast(-1e9, logits.dtype), logits)
        new.update(pending=state["pending"], fresh=tf.zeros_like(state["fresh"]))
        return logits, new, None

    # -- scoring and generation -------------------------------------------------------------
    def score(self, texts: tf.Tensor) -> dict:
        """Per text: total log-probability (nats), token count, per-token log-probabilities."""
        ids = self.encoder.tokenize(texts, truncate=False)
        full = tf.concat([tf.fill([ids.nrows(), 1], tf.constant(START_ID, tf.int64)), ids], axis=1)
        dense = tf.cast(full.to_tensor(), tf.int32)
        targets = dense[:, 1:]
        mask = tf.sequence_mask(tf.cast(full.row_lengths(), tf.int32) - 1, tf.shape(targets)[1])
        log_probs = tf.nn.log_softmax(tf.cast(self.model(dense[:, :-1], training=False), tf.float32))
        token = tf.where(mask, tf.gather(log_probs, targets, batch_dims=2), 0.0)
        return {"log_prob": tf.reduce_sum(token, axis=1), "num_tokens": tf.reduce_sum(tf.cast(mask, tf.int32), axis=1),
                "token_log_probs": token, "known_tokens": self.encoder.known_tokens(texts, truncate=False)}

    def generate(self, prompts: tf.Tensor, decoding: dict, max_length: int) -> dict:
        """Continue each prompt with ``max_length`` tokens (or until [END])."""
        out = decode(self.step, self.prime(prompts, max_length), start_id=START_ID, end_id=END_ID,
                     max_length=max_length, **decoding)
        continuation = self.encoder.detokenize(out["tokens"][:, 0])
        return {"text": tf.strings.join([prompts, continuation], separator=self.separator),
                "continuation": continuation, "log_prob": out["log_probs"][:, 0]}

    def function(self, name: str, **kwargs):
        """A tf.function over a string batch for ``score`` or ``generate`` (one per settings, cached)."""
        key = (name, repr(sorted(kwargs.items())))
        if key not in self._functions:
            fn = getattr(self, name)
            self._functions[key] = tf.function(lambda text: fn(text, **kwargs),
                                               input_signature=[tf.TensorSpec([None], tf.string)])
        return self._functions[key]
