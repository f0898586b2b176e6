"""The generic stages; importing this package registers them (without importing TensorFlow).

Stages that belong to one task (a model head, decoding, sampling) live in that task's package.
"""

from seqpipe.stages import embed, encode, evaluate, export, tokenize, train  # noqa: F401
