"""Recurrent language models: token streams, training windows, scoring and generation.

A text becomes ``[START] tokens...``; the texts of a split are concatenated into one
stream, cut into fixed windows for truncated backpropagation through time. Scoring a
sentence conditions its first token on ``[START]``. Generation primes the recurrent state
with ``[START] + prompt`` and continues with a strategy from ``seqpipe.decoding``.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from seqpipe.decoding import decode
from seqpipe.text import END_ID, PAD_ID, START_ID, UNK_ID


def stream(encoder, texts: list[str]) -> np.ndarray:
    """One int32 stream: ``[START] + ids(text)`` for every text, untruncated."""
    ids = encoder.tokenize(tf.constant(texts), truncate=False)
    starts = tf.fill([ids.nrows(), 1], tf.constant(START_ID, tf.int64))
    return tf.concat([starts, ids], axis=1).flat_values.numpy().astype("int32")


def window_dataset(tokens: np.ndarray, window: int, batch_size: int, *, shuffle: bool = False, seed: int = 0):
    """``(x, y)`` windows of ``window`` tokens, y shifted by one (the last partial window dropped)."""
    n = (len(tokens) - 1) // window
    x = tokens[: n * window].reshape(n, window)
    y = tokens[1 : n * window + 1].reshape(n, window)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def stateful_windows(tokens: np.ndarray, window: int, batch_size: int):
    """Batches whose row b continues row b of the previous batch: ``batch_size`` contiguous streams."""
    per_stream = (len(tokens) - 1) // batch_size
    steps = per_stream // window
    if steps == 0:
        raise ValueError(f"{len(tokens)} tokens are too few for {batch_size} streams of {window}-token windows")
    starts = np.arange(batch_size) * per_stream
    x = np.stack([tokens[s : s + steps * window] for s in starts]).reshape(batch_size, steps, window)
    y = np.stack([tokens[s + 1 : s + 1 + steps * window] for s in starts]).reshape(batch_size, steps, window)
    return tf.data.Dataset.from_tensor_slices((x.transpose(1, 0, 2), y.transpose(1, 0, 2))).prefetch(tf.data.AUTOTUNE)


def stateful_copy(model: keras.Model, batch_size: int, window: int) -> keras.Model:
    """The same network with stateful recurrent layers and a fixed batch shape (weights copied)."""
    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.RNN):
            config["stateful"] = True
        return layer.__class__.from_config(config)

    ids = keras.Input(batch_shape=(batch_size, window), dtype="int32", name="token_ids")
    copy = keras.models.clone_model(model, input_tensors=ids, clone_function=clone)
    copy_weights(model, copy)
    return copy


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Assign every trainable weight of ``source`` to the same-named layer of ``target``."""
    for layer in source.layers:
        for src, dst in zip(layer.trainable_weights, target.get_layer(layer.name).trainable_weights):
            dst.assign(src)


class ResetStates(keras.callbacks.Callback):
    """Zero the recurrent state at the start of every epoch and of every validation pass."""

    def _reset(self, *args):
        for layer in self.model.layers:
            if isinstance(layer, keras.layers.RNN):
                layer.reset_state()

    on_epoch_begin = on_test_begin = _reset


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

    def prime(self, prompts: tf.Tensor) -> dict:
        """State after ``[START] + prompt[:-1]``, with the prompt's last token pending."""
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
                "token_log_probs": token}

    def generate(self, prompts: tf.Tensor, decoding: dict, max_length: int) -> dict:
        """Continue each prompt with ``max_length`` tokens (or until [END])."""
        out = decode(self.step, self.prime(prompts), start_id=START_ID, end_id=END_ID, max_length=max_length, **decoding)
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


def write_samples(lm: LanguageModel, cfg, path: Path) -> Path:
    """Continue ``cfg.prompts`` with ``cfg.decoding`` and write them, one block per prompt."""
    fn = lm.function("generate", decoding=cfg.decoding.model_dump(), max_length=cfg.max_length)
    texts = fn(tf.constant(cfg.prompts))["text"].numpy()
    path.write_text("\n\n----\n\n".join(t.decode("utf-8", "replace") for t in texts) + "\n", encoding="utf-8")
    return path


def shuffled_pairs(texts: list[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    """Up to ``n`` lines of 4+ words from ``texts`` and a word-shuffled copy of each (never identical)."""
    rng = np.random.default_rng(seed)
    lines = [line.strip() for text in texts for line in text.splitlines() if len(line.split()) >= 4]
    if len(lines) > n:
        lines = [lines[i] for i in sorted(rng.choice(len(lines), n, replace=False))]
    real, shuffled = [], []
    for line in lines:
        words = line.split()
        for _ in range(10):
            order = rng.permutation(len(words))
            if (order != np.arange(len(words))).any() and [words[i] for i in order] != words:
                real.append(line)
                shuffled.append(" ".join(words[i] for i in order))
                break
    return real, shuffled
