"""Character-level recurrent word encoder: one vector per word from its characters."""

from __future__ import annotations

import keras
import tensorflow as tf

import seqpipe.cells.keras_cells  # noqa: F401  (registers seqpipe's Keras cells, so saved models load)
from seqpipe.cells import get_cell


@keras.saving.register_keras_serializable(package="seqpipe")
class CharWordEncoder(keras.layers.Layer):
    """Encode every word from its characters with a bidirectional RNN (Lample et al. 2016).

    Words never seen in training still get a vector built from their spelling, prefixes
    and suffixes. Only real words run through the RNN: padding words (no characters)
    are skipped and come out as zeros.

    Args:
        vocabulary_size: number of character ids (id 0 is padding).
        dim: character embedding width.
        units: units per direction; the output has ``2 * units`` features.
        cell: a cell spec: a kind registered in ``seqpipe.cells.CELLS`` (``"lstm"``) or a mapping with its options
            (``{"kind": "lstm", "peepholes": True}``).

    Call arguments:
        char_ids: int tensor ``(batch, words, chars)``, 0-padded on the right.

    Returns:
        float tensor ``(batch, words, 2 * units)``: the final forward and backward states, masked where a
        word has no characters (padding).
    """

    def __init__(self, vocabulary_size: int, dim: int = 32, units: int = 32, cell: str | dict = "lstm", **kwargs):
        super().__init__(**kwargs)
        kind = get_cell(cell)
        self.vocabulary_size, self.dim, self.units, self.cell = int(vocabulary_size), int(dim), int(units), kind.spec
        self.embedding = keras.layers.Embedding(self.vocabulary_size, self.dim, name="char_embedding")
        self.rnn = keras.layers.Bidirectional(kind.layer(self.units, return_sequences=False),
                                              name=f"char_bi{kind.name}")
        self.supports_masking = True

    def build(self, input_shape):
        self.embedding.build((None, None))
        self.rnn.build((None, None, self.dim))
        self.built = True

    def call(self, char_ids, mask=None):
        shape = tf.shape(char_ids)
        flat = tf.reshape(char_ids, [-1, shape[2]])
        real = tf.reduce_any(flat > 0, axis=1)
        # One extra one-character word keeps the RNN's batch non-empty when no word is real; its output is dropped.
        words = tf.concat([tf.boolean_mask(flat, real), tf.one_hot([0], tf.shape(flat)[1], dtype=flat.dtype)], 0)
        encoded = self.rnn(self.embedding(words), mask=words > 0)[:-1]
        out = tf.scatter_nd(tf.where(real), encoded, tf.stack([tf.shape(flat, out_type=tf.int64)[0], 2 * self.units]))
        return tf.reshape(out, tf.stack([shape[0], shape[1], 2 * self.units]))

    def compute_mask(self, char_ids, mask=None):
        # Real words have characters. Keras's Concatenate ORs its inputs' masks (a missing mask counts as all
        # true), so without this mask the sentence mask of the word embedding would be lost.
        return keras.ops.any(keras.ops.greater(char_ids, 0), axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], 2 * self.units)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "dim": self.dim,
                "units": self.units, "cell": self.cell}
