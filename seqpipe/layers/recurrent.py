"""Stacked (bi)directional recurrent encoders built from standard Keras layers."""

from __future__ import annotations

import keras

from seqpipe.cells import get_cell


def cudnn_eligible(cell: str, recurrent_dropout: float) -> tuple[bool, str]:
    """Whether Keras can use the cuDNN kernel for this cell on a GPU, and why not.

    Keras needs tanh/sigmoid activations, ``recurrent_dropout=0``, ``unroll=False``,
    ``use_bias=True`` (and ``reset_after=True`` for GRU) plus right-padded masks; seqpipe
    always builds with those defaults and right padding, so only the cell kind and the
    recurrent dropout can break it (:meth:`seqpipe.cells.Cell.cudnn_eligible`).
    """
    return get_cell(cell).cudnn_eligible(recurrent_dropout)


def recurrent_stack(
    x,
    *,
    cell: str,
    units: int,
    layers: int,
    bidirectional: bool,
    merge_mode: str = "concat",
    residual: bool = False,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    return_state: bool = False,
    name: str = "encoder",
):
    """Apply ``layers`` recurrent layers to the sequence ``x`` (masks propagate).

    Between layers: dropout (``dropout``), and with ``residual=True`` the layer's input is
    added to its output whenever their widths match (every layer after the first when
    the embedding width equals the layer width). Returns the output sequence, or with
    ``return_state`` ``(sequence, states)`` where ``states`` are the last layer's final
    states (``[h, c]`` for LSTM, ``[h]`` otherwise; both directions concatenated).
    """
    kind = get_cell(cell)
    states = []
    for i in range(layers):
        if i > 0 and dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout_{i}")(x)
        last = return_state and i == layers - 1
        layer = kind.layer(units, return_sequences=True, return_state=last, recurrent_dropout=recurrent_dropout,
                           name=f"{name}_{cell}_{i}")
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, merge_mode=merge_mode, name=f"{name}_bi{cell}_{i}")
        y = layer(x)
        if last:
            y, *states = y
            if bidirectional:
                half = len(states) // 2
                states = [keras.layers.Concatenate(name=f"{name}_state_{k}")([f, b])
                          for k, (f, b) in enumerate(zip(states[:half], states[half:]))]
        if residual and x.shape[-1] == y.shape[-1]:
            y = keras.layers.Add(name=f"{name}_residual_{i}")([x, y])
        x = y
    return (x, states) if return_state else x
