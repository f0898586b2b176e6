"""Tokenizer kinds: how raw strings split into tokens, and how a vocabulary is built.

Each kind works on a batch of strings with TensorFlow ops only, so the same code runs in
``tf.data``, in the Keras model and in an exported SavedModel. Vocabularies always start
with ``[PAD]`` (id 0) and ``[UNK]`` (id 1).
"""

from __future__ import annotations

import base64
import collections
import tempfile
from pathlib import Path

import tensorflow as tf
import tensorflow_text as tf_text
from keras_hub.src.tokenizers.word_piece_tokenizer import pretokenize
from keras_hub.tokenizers import compute_word_piece_vocabulary

from seqpipe.text import END, PAD, RESERVED, START, UNK, UNK_ID

SPACE_BEFORE_PUNCT = r" ([.,;:!?)\]}'»”])"


def _top(counter: collections.Counter, vocab_size: int, min_frequency: int) -> list[str]:
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    keep = [t.decode("utf-8") for t, n in ranked if n >= min_frequency]
    keep = [t for t in keep if t not in RESERVED]
    return list(RESERVED) + keep[: max(vocab_size - len(RESERVED), 0)]


class TokenizerKind:
    """Base class: ``split`` strings into token strings; ``ids`` maps strings to ragged ids."""

    def __init__(self, vocabulary: list[str] | None, lowercase: bool, model: str | None = None):
        self.vocabulary = vocabulary
        self.lowercase = lowercase
        self.model = model  # kinds with a trained model (sentencepiece) keep it here, base64

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
        return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default_value=UNK_ID)

    def join(self, tokens: tf.RaggedTensor) -> tf.Tensor:
        """Token strings back to text (the inverse of ``split`` up to spacing)."""
        text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
        return tf.strings.regex_replace(text, SPACE_BEFORE_PUNCT, r"\1")


class CharTokenizer(TokenizerKind):
    """Unicode characters."""

    def split(self, strings):
        if self.lowercase:
            strings = tf.strings.lower(strings, encoding="utf-8")
        return tf.strings.unicode_split(strings, "UTF-8")

    def join(self, tokens):
        return tf.strings.reduce_join(tokens, axis=-1)


class WordTokenizer(TokenizerKind):
    """Words and punctuation marks, split like BERT's basic tokenizer."""

    def split(self, strings):
        return pretokenize(strings, lowercase=self.lowercase, strip_accents=False, split=True)


class WhitespaceTokenizer(TokenizerKind):
    """Tokens separated by whitespace, taken as they are (pre-tokenized text, e.g. one token per tag)."""

    def split(self, strings):
        if self.lowercase:
            strings = tf.strings.lower(strings, encoding="utf-8")
        return tf.strings.split(strings)


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
            no_pretokenization=True, token_out_type=tf.int64, support_detokenization=True,
        )


class SentencePieceTokenizer(TokenizerKind):
    """SentencePiece unigram model trained offline; ids 0-3 are [PAD], [UNK], [START], [END]."""

    model_type = "unigram"

    def build_vocabulary(self, texts, vocab_size, min_frequency):
        import sentencepiece as spm

        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "corpus.txt"
            corpus.write_text("\n".join(t.lower() if self.lowercase else t for t in texts) + "\n", encoding="utf-8")
            spm.SentencePieceTrainer.train(
                input=str(corpus), model_prefix=str(Path(tmp) / "sp"), vocab_size=vocab_size,
                model_type=self.model_type,
                character_coverage=1.0, pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece=PAD, unk_piece=UNK,
                bos_piece=START, eos_piece=END, hard_vocab_limit=False, num_threads=2, minloglevel=2,
                input_sentence_size=2_000_000, shuffle_input_sentence=True,
            )
            proto = (Path(tmp) / "sp.model").read_bytes()
        self.model = base64.b64encode(proto).decode("ascii")
        processor = spm.SentencePieceProcessor(model_proto=proto)
        return [processor.id_to_piece(i) for i in range(processor.get_piece_size())]

    def sentencepiece(self) -> tf_text.SentencepieceTokenizer:
        return tf_text.SentencepieceTokenizer(model=base64.b64decode(self.model), out_type=tf.int32)

    def split(self, strings):
        raise NotImplementedError("sentencepiece maps text to ids directly")


class BPETokenizer(SentencePieceTokenizer):
    """Byte-pair encoding (Sennrich et al. 2016) trained offline by SentencePiece (model type bpe)."""

    model_type = "bpe"


class TreeTokenizer(TokenizerKind):
    """Bracketed trees (``(+ (* 3 4) 2)``, ``(S (NP the cat) (VP sat))``): brackets and whitespace-separated
    tokens, the brackets kept as tokens at fixed ids (``(`` 4, ``)`` 5) so a recursive encoder can read the
    structure from the ids (:mod:`seqpipe.text.trees`)."""

    brackets = ("(", ")")

    def split(self, strings):
        if self.lowercase:
            strings = tf.strings.lower(strings, encoding="utf-8")
        return tf.strings.split(tf.strings.regex_replace(strings, r"([()])", r" \1 "))

    def build_vocabulary(self, texts, vocab_size, min_frequency):
        vocabulary = super().build_vocabulary(texts, vocab_size, min_frequency)
        rest = [t for t in vocabulary[len(RESERVED):] if t not in self.brackets]
        return list(RESERVED) + list(self.brackets) + rest[: max(vocab_size - len(RESERVED) - 2, 0)]

    def join(self, tokens):
        text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
        return tf.strings.regex_replace(tf.strings.regex_replace(text, r"\( ", "("), r" \)", ")")

    @staticmethod
    def problem(text: str, lowercase: bool, max_length: int) -> str | None:
        """Why ``text`` cannot be used (not one well-formed tree, or longer than ``max_length`` tokens), or None."""
        from seqpipe.text.trees import TreeError, parse_tree, tokens_of

        try:
            parse_tree(text, lowercase)
        except TreeError as exc:
            return str(exc)
        n = len(tokens_of(text))
        if n > max_length:
            return (f"the tree has {n} tokens (brackets included); tokenize.max_length is {max_length} and a cut "
                    "tree is no tree: raise it")
        return None
