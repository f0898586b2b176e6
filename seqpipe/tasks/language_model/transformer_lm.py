"""The Transformer language model's stepping: the decoder-only stack (``encode.kind: transformer``) run one token at
a time over a key/value cache, with the same ``step``, ``score`` and ``generate`` as the recurrent one.

Prompts of unequal length are left-padded, so that every row's last prompt token comes at the same step index;
the padding's cache positions are marked invalid and never attended to.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from seqpipe.tasks.language_model.model import LanguageModel
from seqpipe.text import PAD_ID, START_ID


def language_model(model: keras.Model, encoder) -> "LanguageModel":
    """The stepping language model around ``model``: over its recurrent layers, or over its Transformer stack
    (``encode.kind: transformer``)."""
    from seqpipe.layers.transformer import CausalTransformerStack

    if any(isinstance(layer, CausalTransformerStack) for layer in model.layers):
        return TransformerLanguageModel(model, encoder)
    return LanguageModel(model, encoder)


class TransformerLanguageModel(LanguageModel):
    """:class:`LanguageModel` over a :class:`seqpipe.layers.transformer.CausalTransformerStack`."""

    def __init__(self, model, encoder):
        self.model, self.encoder = model, encoder
        self.embedding = model.get_layer("embedding")
        self.stack = model.get_layer("encoder_transformer")
        self.head = model.get_layer("lm_logits")
        self.separator = "" if encoder.kind in ("char", "sentencepiece") else " "
        self._functions: dict = {}

    def advance(self, tokens, state: dict, real=None):
        """One token per row -> (float32 logits, new state); ``real``: False for left padding."""
        out, new = self.stack.step(self.embedding(tokens), state, real)
        return tf.cast(self.head(out), tf.float32), new

    def prime(self, prompts: tf.Tensor, max_length: int = 0) -> dict:
        """The cache after ``[START] + prompt[:-1]`` (left-padded to the longest prompt), room for
        ``max_length`` more tokens, and the prompt's last token pending."""
        ids = self.encoder.tokenize(prompts, truncate=False)
        ids = tf.concat([tf.fill([ids.nrows(), 1], tf.constant(START_ID, tf.int64)), ids], axis=1)
        lengths = tf.cast(ids.row_lengths(), tf.int32)
        dense = tf.cast(ids.to_tensor(), tf.int32)
        longest = tf.shape(dense)[1]
        pads = longest - lengths
        source = tf.range(longest)[None, :] - pads[:, None]  # left-aligned position -> right-padded position
        left = tf.where(source >= 0, tf.gather(dense, tf.maximum(source, 0), batch_dims=1), PAD_ID)
        state = self.stack.initial_state(tf.shape(dense)[0], longest - 1 + max_length)

        def body(t, state):
            _, new = self.advance(left[:, t], state, real=t >= pads)
            return t + 1, new

        _, state = tf.while_loop(lambda t, s: t < longest - 1, body, (tf.constant(0), state))
        state["pending"] = left[:, longest - 1]
        state["fresh"] = tf.ones_like(lengths, dtype=tf.bool)
        return state
