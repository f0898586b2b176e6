"""Tokenizer kinds: how raw strings split into tokens, and how a vocabulary is built.

Each kind works on a batch of strings with TensorFlow ops only, so the same code runs in
``tf.data``, in the Keras model and in an exported SavedModel. Vocabularies always start
with ``[PAD]`` (id 0) and ``[UNK]`` (id 1).
"""

from __future__ import annotations

import collections

import tensorflow as tf
import tensorflow_text as tf_text
from keras_hub.src.tokenizers.word_piece_tokenizer import pretokenize
from keras_hub.tokenizers import compute_word_piece_vocabulary

from seqpipe.text import RESERVED, UNK


def _top(counter: collections.Counter, vocab_size: int, min_frequency: int) -> list[str]:
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    keep = [t.decode("utf-8") for t, n in ranked if n >= min_frequency]
    keep = [t for t in keep if t not in RESERVED]
    return list(RESERVED) + keep[: max(vocab_size - len(RESERVED), 0)]


class TokenizerKind:
    """Base class: ``split`` strings into token strings; ``ids`` maps strings to ragged ids."""

    def __init__(self, vocabulary: list[str] | None, lowercase: bool):
        self.vocabulary = vocabulary
        self.lowercase = lowercase

    def split(self, strings: tf.Tensor) -> tf.RaggedTensor:
        raise NotImplementedError

    def build_vocabulary(self, texts: list[str], vocab_size: int, min_frequency: int) -> list[str]:
        counter: collections.Counter = collections.Counter()
        for start in range(0, len(texts), 4096):
            tokens = self.split(tf.constant(texts[start : start + 4096]))
            counter.update(tokens.flat_values.numpy().tolist())
        return _top(counter, vocab_size, min_frequency)

    def lookup_table(self) -> tf.lookup.StaticHashTable:
        keys = tf.constant(self.vocabulary)
        values = tf.range(len(self.vocabulary), dtype=tf.int64)
        return tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, values), default_value=RESERVED.index(UNK)
        )


class CharTokenizer(TokenizerKind):
    """Unicode characters."""

    def split(self, strings):
        if self.lowercase:
            strings = tf.strings.lower(strings, encoding="utf-8")
        return tf.strings.unicode_split(strings, "UTF-8")


class WordTokenizer(TokenizerKind):
    """Words and punctuation marks, split like BERT's basic tokenizer."""

    def split(self, strings):
        return pretokenize(strings, lowercase=self.lowercase, strip_accents=False, split=True)


class WordPieceTokenizer(WordTokenizer):
    """WordPiece subwords over the word split (tensorflow-text FastWordpieceTokenizer)."""

    def build_vocabulary(self, texts, vocab_size, min_frequency):
        ds = tf.data.Dataset.from_tensor_slices(texts).batch(1024)
        vocab = compute_word_piece_vocabulary(
            ds, vocabulary_size=vocab_size, lowercase=self.lowercase, strip_accents=False,
            reserved_tokens=list(RESERVED),
        )
        return list(vocab)

    def fast_wordpiece(self) -> tf_text.FastWordpieceTokenizer:
        return tf_text.FastWordpieceTokenizer(
            vocab=self.vocabulary, suffix_indicator="##", unknown_token=UNK,
            no_pretokenization=True, token_out_type=tf.int64,
        )
