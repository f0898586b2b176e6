"""Tokenization that runs inside the TensorFlow graph (training and serving share it)."""

from seqpipe.registry import Registry

PAD, UNK = "[PAD]", "[UNK]"
RESERVED = (PAD, UNK)  # ids 0 and 1 in every vocabulary

TOKENIZERS = Registry("tokenizer")
TOKENIZERS.register("char", "seqpipe.text.kinds:CharTokenizer",
                    description="Unicode characters; vocabulary of the most frequent characters")
TOKENIZERS.register("word", "seqpipe.text.kinds:WordTokenizer",
                    description="words and punctuation marks (BERT-style split); unseen words map to [UNK]")
TOKENIZERS.register("wordpiece", "seqpipe.text.kinds:WordPieceTokenizer",
                    description="WordPiece subwords (tensorflow-text FastWordpiece); vocabulary trained on the training split")
