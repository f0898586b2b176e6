"""Built-in stages; importing this package registers them (without importing TensorFlow)."""

from seqpipe.stages import classify, embed, encode, evaluate, export, tokenize, train  # noqa: F401
