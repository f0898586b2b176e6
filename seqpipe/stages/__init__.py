"""Built-in stages; importing this package registers them (without importing TensorFlow)."""

from seqpipe.stages import classify, decode, embed, encode, evaluate, export, generate, lm, sample, tag, tokenize, train  # noqa: F401
