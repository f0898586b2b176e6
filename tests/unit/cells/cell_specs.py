"""The cell specs the registry-driven tests run on: every registered kind with its defaults, plus option variants
that change what is built (a custom cell instead of a fused layer, another nonlinearity, several time scales)."""

from __future__ import annotations

import pytest

from seqpipe.cells import CELLS

OPTION_VARIANTS = [
    {"kind": "lstm", "peepholes": True},
    {"kind": "lstm", "forget_bias": 0.0},  # still Keras's fused LSTM, with another bias initializer
    {"kind": "rnn", "activation": "relu"},
    {"kind": "leaky_rnn", "time_constants": [1, 10]},
    {"kind": "leaky_rnn", "time_constants": [1, 4, 16], "learn_time_constants": True},
    {"kind": "esn", "leak_rate": 0.5, "sparsity": 0.2},
    {"kind": "layer_norm_lstm", "forget_bias": 0.0},
    # a feed-forward controller (no controller states), several read heads, wider shifts, a small memory
    {"kind": "ntm", "controller": "dense", "memory_size": 8, "word_size": 3, "read_heads": 2, "shift_range": 2},
]

CELL_SPECS = [*CELLS.names(), *OPTION_VARIANTS]


def spec_id(spec) -> str:
    """``lstm``, ``lstm-peepholes=True``, ``leaky_rnn-time_constants=1,10``."""
    if isinstance(spec, str):
        return spec
    options = [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in spec.items() if k != "kind"]
    return "-".join([spec["kind"], *options])


def spec_params(specs=None) -> list:
    """``pytest.param`` per spec, with readable ids."""
    return [pytest.param(spec, id=spec_id(spec)) for spec in (CELL_SPECS if specs is None else specs)]
