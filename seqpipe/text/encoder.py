"""The Keras layer that turns raw strings into token ids inside the graph."""

from __future__ import annotations

import keras
import tensorflow as tf

from seqpipe.text import END_ID, PAD_ID, START_ID, TOKENIZERS, UNK_ID
from seqpipe.text.kinds import SPACE_BEFORE_PUNCT, SentencePieceTokenizer, WordPieceTokenizer


@keras.saving.register_keras_serializable(package="seqpipe")
class TextEncoder(keras.layers.Layer):
    """Raw strings to right-padded token ids; id 0 is padding, 1 is ``[UNK]``.

    Args:
        kind: tokenizer name registered in ``seqpipe.text.TOKENIZERS`` (char, word, wordpiece).
        vocabulary: list of tokens; ``[PAD]`` and ``[UNK]`` first.
        max_length: longer inputs are truncated to this many tokens.
        lowercase: lowercase before splitting.
        model: base64 model for kinds that have one (sentencepiece).

    Call arguments:
        strings: string tensor of shape ``(batch,)``.

    Returns:
        int32 tensor ``(batch, length)`` with ``length <= max_length`` the longest input in
        the batch, padded on the right (so the cuDNN kernel stays eligible on a GPU).
    """

    def __init__(self, kind: str, vocabulary: list[str], max_length: int, lowercase: bool = True,
                 model: str | None = None, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.kind = kind
        self.vocabulary = list(vocabulary)
        self.max_length = int(max_length)
        self.lowercase = bool(lowercase)
        self.model = model
        self._tokenizer = TOKENIZERS.get(kind)(self.vocabulary, self.lowercase, model)
        if isinstance(self._tokenizer, SentencePieceTokenizer):
            self._sentencepiece = self._tokenizer.sentencepiece()
        elif isinstance(self._tokenizer, WordPieceTokenizer):
            self._wordpiece = self._tokenizer.fast_wordpiece()
        else:
            self._table = self._tokenizer.lookup_table()
        self._tokens = tf.constant(self.vocabulary)

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def tokenize(self, strings: tf.Tensor, truncate: bool = True) -> tf.RaggedTensor:
        """Ragged int64 ids, truncated to ``max_length`` unless ``truncate`` is False."""
        end = self.max_length if truncate else None
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        if isinstance(self._tokenizer, SentencePieceTokenizer):
            if self.lowercase:
                strings = tf.strings.lower(strings, encoding="utf-8")
            return tf.cast(self._sentencepiece.tokenize(strings), tf.int64)[:, :end]
        tokens = self._tokenizer.split(strings)
        if isinstance(self._tokenizer, WordPieceTokenizer):
            ids = self._wordpiece.tokenize(tokens).merge_dims(-2, -1)
        else:
            ids = tf.ragged.map_flat_values(self._table.lookup, tokens)
        return ids[:, :end]

    def known_tokens(self, strings: tf.Tensor, truncate: bool = True) -> tf.Tensor:
        """int32 ``[batch]``: the tokens of each string found in the vocabulary (not ``[UNK]``), after truncation
        unless ``truncate`` is False.

        Zero means the input carries no evidence for the model: empty, spaces only, or only unknown tokens
        (the exports' answer for such inputs is written in docs/serving.md#empty-and-unknown-input).
        """
        ids = self.tokenize(strings, truncate=truncate)
        return tf.cast(tf.reduce_sum(tf.cast(ids > UNK_ID, tf.int32), axis=1), tf.int32)

    def tokens(self, strings: tf.Tensor) -> tf.RaggedTensor:
        """The vocabulary entries the ids stand for (for inspection and tests)."""
        return tf.ragged.map_flat_values(tf.gather, self._tokens, self.tokenize(strings))

    def detokenize(self, ids) -> tf.Tensor:
        """Ids ``(batch, length)`` (dense or ragged) back to strings; [PAD]/[START]/[END] dropped."""
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(ids))
        ids = tf.cast(ids, tf.int64)
        keep = (ids != PAD_ID) & (ids != START_ID) & (ids != END_ID)
        ids = tf.ragged.boolean_mask(ids, keep)
        if isinstance(self._tokenizer, SentencePieceTokenizer):
            # Joining the pieces is SentencePiece's own detokenization for unigram models without byte
            # fallback; pure string ops keep a second SentencePiece resource out of exported graphs
            # (two of them in one SavedModel restore as the same model).
            pieces = tf.ragged.map_flat_values(tf.gather, self._tokens, ids)
            text = tf.strings.regex_replace(tf.strings.reduce_join(pieces, axis=-1), "\u2581", " ")
            return tf.strings.strip(text)
        if isinstance(self._tokenizer, WordPieceTokenizer):
            words = self._wordpiece.detokenize(ids)
            return tf.strings.regex_replace(words, SPACE_BEFORE_PUNCT, r"\1")
        return self._tokenizer.join(tf.ragged.map_flat_values(tf.gather, self._tokens, ids))

    def call(self, strings):
        return tf.cast(self.tokenize(strings).to_tensor(0), tf.int32)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None)

    def compute_output_spec(self, strings):
        # int32 under any dtype policy (from compute_output_shape alone, Keras would give the compute dtype).
        return keras.KerasTensor(self.compute_output_shape(strings.shape), dtype="int32")

    def get_config(self):
        config = super().get_config()
        config.update(kind=self.kind, vocabulary=self.vocabulary,
                      max_length=self.max_length, lowercase=self.lowercase, model=self.model)
        config.pop("trainable", None)
        return config
