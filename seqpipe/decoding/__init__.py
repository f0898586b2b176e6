"""Decoding for sequence-to-sequence models: one shared search loop, pluggable strategies.

The model side is a step function
``step_fn(tokens int32 [N], state) -> (logits [N, V], new_state, attention [N, S] or None)``;
see :func:`seqpipe.decoding.search.decode`. Importing this package does not import
TensorFlow: ``decode`` and ``decode_eager`` load it on first use.
"""

from seqpipe.decoding.base import STRATEGIES, Candidates, Strategy
from seqpipe.decoding.config import BeamConfig, DecodingConfig, GreedyConfig, SamplingConfig

__all__ = ["STRATEGIES", "Strategy", "Candidates", "GreedyConfig", "BeamConfig", "SamplingConfig",
           "DecodingConfig", "decode", "decode_eager"]


def __getattr__(name: str):
    if name in ("decode", "decode_eager"):
        from seqpipe.decoding import search

        return getattr(search, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
