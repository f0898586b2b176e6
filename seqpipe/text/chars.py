"""Characters of whitespace-separated words, as ids inside the graph (for character-level word encoders)."""

from __future__ import annotations

import collections

import keras
import tensorflow as tf

from seqpipe.text import RESERVED, UNK_ID


def char_vocabulary(sentences: list[str], min_frequency: int = 1, size: int = 1000) -> list[str]:
    """The characters of the words in ``sentences``, most frequent first, after the reserved tokens."""
    counts = collections.Counter(ch for sentence in sentences for word in sentence.split() for ch in word)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    keep = [ch for ch, n in ranked if n >= min_frequency and ch not in RESERVED]
    return list(RESERVED) + keep[: max(size - len(RESERVED), 0)]


@keras.saving.register_keras_serializable(package="seqpipe")
class CharEncoder(keras.layers.Layer):
    """Raw strings to the character ids of their whitespace-separated words.

    Args:
        vocabulary: characters, ``[PAD]`` and ``[UNK]`` first; unseen characters map to ``[UNK]``.
        max_chars: characters kept per word (the rest are cut).

    Call arguments:
        strings: string tensor of shape ``(batch,)``.

    Returns:
        int32 tensor ``(batch, words, chars)``, 0 past the end of each word and sentence.
        Words are split exactly as the ``whitespace`` tokenizer splits them (case kept).
    """

    def __init__(self, vocabulary: list[str], max_chars: int = 20, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.vocabulary = list(vocabulary)
        self.max_chars = int(max_chars)
        keys = tf.constant(self.vocabulary)
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, tf.range(len(self.vocabulary), dtype=tf.int64)),
            default_value=UNK_ID)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def call(self, strings):
        words = tf.strings.split(tf.convert_to_tensor(strings, dtype=tf.string))
        chars = tf.strings.unicode_split(words, "UTF-8")[:, :, : self.max_chars]
        ids = tf.ragged.map_flat_values(self._table.lookup, chars)
        return tf.cast(ids.to_tensor(0), tf.int32)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, None)

    def compute_output_spec(self, strings):
        # int32 under any dtype policy (from compute_output_shape alone, Keras would give the compute dtype).
        return keras.KerasTensor(self.compute_output_shape(strings.shape), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary=self.vocabulary, max_chars=self.max_chars)
        config.pop("trainable", None)
        return config
