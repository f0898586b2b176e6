"""Recurrent cells: each kind is declared once and works wherever a cell is accepted.

A :class:`Cell` gives the sequence layer (encoders, taggers, classifiers, language models,
the character word encoder), the single-step cell (the attention decoder and the stepping
language model), its cuDNN rule and its options. The state structure is the step cell's ``state_size``.

A pipeline names a cell as ``cell: lstm`` or, with options, ``cell: {kind: lstm, peepholes: true}``
(:mod:`seqpipe.cells.spec`). The equations, options and cuDNN status of every built-in kind are in
`docs/cells.md <../../docs/cells.md>`_.

Importing this package does not import TensorFlow: each kind and its ``Options`` live in a small
module of their own (``elman``, ``lstm``, ``gru``, ``layer_norm_lstm``, ``leaky_rnn``, ``esn``, ``ntm``); the
Keras step cells are in :mod:`seqpipe.cells.keras_cells`, imported when a layer is built.
"""

from __future__ import annotations

from typing import Any

from seqpipe.cells.base import CELLS, Cell, CellOptions
from seqpipe.cells.elman import SimpleRNN
from seqpipe.cells.esn import EchoState
from seqpipe.cells.gru import GRU
from seqpipe.cells.layer_norm_lstm import LayerNormLSTM
from seqpipe.cells.leaky_rnn import LeakyRNN
from seqpipe.cells.lstm import LSTM
from seqpipe.cells.ntm import NTM
from seqpipe.cells.spec import CellSpec, CellSpecError, normalize_cell_spec, parse_cell_spec

__all__ = ["CELLS", "Cell", "CellOptions", "CellSpec", "CellSpecError", "gate_activations", "get_cell",
           "normalize_cell_spec", "parse_cell_spec", "state_sizes"]

CELLS.register("rnn", SimpleRNN, description="Elman RNN (keras SimpleRNN; activation tanh or relu); no cuDNN kernel")
CELLS.register("lstm", LSTM, description="LSTM (Hochreiter & Schmidhuber); cuDNN kernel with the defaults")
CELLS.register("gru", GRU, description="GRU (Cho et al., reset_after=True); cuDNN kernel with the defaults")
CELLS.register("layer_norm_lstm", LayerNormLSTM,
               description="LSTM with layer-normalised gates and cell state (Ba et al. 2016); no cuDNN kernel")
CELLS.register("leaky_rnn", LeakyRNN,
               description="leaky-integrator units, fixed or learned time constants (Jaeger et al. 2007); no cuDNN "
                           "kernel")
CELLS.register("esn", EchoState,
               description="echo state network: fixed random reservoir, not trained (Jaeger 2001); no cuDNN kernel")
CELLS.register("ntm", NTM,
               description="Neural Turing Machine: LSTM or dense controller with read/write heads over a memory "
                           "(Graves et al. 2014); no cuDNN kernel")


def get_cell(spec: Any) -> Cell:
    """An instance of a registered cell kind from its spec: a name (``"lstm"``), a mapping
    (``{"kind": "lstm", "peepholes": True}``) or a :class:`Cell`. An unknown kind raises ``KeyError`` (naming
    the registered ones), bad options :class:`CellSpecError` (a ``ValueError``)."""
    if isinstance(spec, Cell):
        return spec
    name = spec.get("kind") if isinstance(spec, dict) else spec
    if isinstance(name, str) and name not in CELLS:
        raise KeyError(CELLS.unknown_message(name))
    kind, options = parse_cell_spec(spec, CELLS)
    return kind(**options)


def state_sizes(cell) -> list[int]:
    """A Keras cell's state sizes as a list (``[h]`` or ``[h, c]``)."""
    size = cell.state_size
    return [int(s) for s in size] if isinstance(size, (list, tuple)) else [int(size)]


def gate_activations(cell, inputs, states) -> dict:
    """The post-sigmoid gates of one step of a gated Keras cell (or of the cell of a ``keras.layers.RNN``).

    ``{"input", "forget", "output"}`` for LSTM-like cells, ``{"update", "reset"}`` for GRU; for Keras's own
    LSTMCell/GRUCell they are computed from the cell's weights, for seqpipe's cells by their
    ``gate_activations`` method. See :func:`seqpipe.cells.keras_cells.gates.gate_activations`.
    """
    from seqpipe.cells.keras_cells.gates import gate_activations as compute

    return compute(cell, inputs, states)


def cudnn_eligible(cell: Any, recurrent_dropout: float, skip_delay: int = 0) -> tuple[bool, str]:
    """Whether Keras can use the cuDNN kernel for this cell on a GPU, and why not.

    Keras needs tanh/sigmoid activations, ``recurrent_dropout=0``, ``unroll=False``,
    ``use_bias=True`` (and ``reset_after=True`` for GRU) plus right-padded masks; seqpipe
    always builds with those defaults and right padding, so only the cell kind and its options
    (:meth:`seqpipe.cells.Cell.cudnn_eligible`: e.g. ``lstm`` with ``peepholes: true`` runs a custom
    cell), the recurrent dropout, and ``skip_delay`` (a wrapper cell around any kind) can break it.
    ``cell`` is a cell spec: a name or ``{kind: name, option: value, ...}``.
    """
    eligible, why = get_cell(cell).cudnn_eligible(recurrent_dropout)
    if eligible and skip_delay > 0:
        return False, "skip_delay > 0 wraps the cell to feed it h_{t-d}, which the fused (cuDNN) kernels cannot run"
    return eligible, why
