"""The version of seqpipe (one place; ``seqpipe.__version__`` and the packaging read it)."""

__version__ = "0.1.0"
