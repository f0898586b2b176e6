"""Tokenization that runs inside the TensorFlow graph (training and serving share it)."""

from seqpipe.registry import Registry

PAD, UNK, START, END = "[PAD]", "[UNK]", "[START]", "[END]"
RESERVED = (PAD, UNK, START, END)  # ids 0-3 in every vocabulary
PAD_ID, UNK_ID, START_ID, END_ID = range(4)

TOKENIZERS = Registry("tokenizer")
TOKENIZERS.register("char", "seqpipe.text.kinds:CharTokenizer",
                    description="Unicode characters; vocabulary of the most frequent characters")
TOKENIZERS.register("word", "seqpipe.text.kinds:WordTokenizer",
                    description="words and punctuation marks (BERT-style split); unseen words map to [UNK]")
TOKENIZERS.register("whitespace", "seqpipe.text.kinds:WhitespaceTokenizer",
                    description="whitespace-separated tokens as given (pre-tokenized text, one item per label)")
TOKENIZERS.register("wordpiece", "seqpipe.text.kinds:WordPieceTokenizer",
                    description="WordPiece subwords (tensorflow-text FastWordpiece); "
                                "vocabulary trained on the training split")
TOKENIZERS.register("sentencepiece", "seqpipe.text.kinds:SentencePieceTokenizer",
                    description="SentencePiece unigram subwords, trained offline on the training split; "
                                "lossless detokenization")
TOKENIZERS.register("bpe", "seqpipe.text.kinds:BPETokenizer",
                    description="byte-pair encoding subwords (SentencePiece's BPE trainer), trained offline on the "
                                "training split; lossless detokenization")
TOKENIZERS.register("tree", "seqpipe.text.kinds:TreeTokenizer",
                    description="bracketed trees, e.g. (+ (* 3 4) 2) or (S (NP the cat) (VP sat)): brackets and "
                                "whitespace-separated tokens, brackets kept as tokens (ids 4 and 5) for encode.tree")

WORD_LEVEL = frozenset({"word", "whitespace", "tree"})
"""Kinds whose vocabulary entries are whole words: the kinds that pretrained word vectors (``embed.pretrained``)
can serve."""
