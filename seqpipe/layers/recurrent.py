"""Stacked (bi)directional recurrent encoders of any registered cell, with optional skip connections through time."""

from __future__ import annotations

from typing import Any

import keras

import seqpipe.cells.keras_cells  # noqa: F401  (registers seqpipe's Keras cells, so saved models load)
from seqpipe.cells import get_cell, state_sizes
from seqpipe.cells.keras_cells.skip_delay import SkipDelayCell


def recurrent_stack(
    x,
    *,
    cell: Any,
    units: int,
    layers: int,
    bidirectional: bool,
    merge_mode: str = "concat",
    residual: bool = False,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    skip_delay: int = 0,
    return_state: bool = False,
    name: str = "encoder",
):
    """Apply ``layers`` recurrent layers to the sequence ``x`` (masks propagate).

    ``cell`` is a cell spec (``"lstm"`` or ``{"kind": "lstm", "peepholes": True}``). Between layers: dropout
    (``dropout``), and with ``residual=True`` the layer's input is added to its output whenever their widths
    match (every layer after the first when the embedding width equals the layer width). With
    ``skip_delay=d > 0`` every layer's step ``t`` also receives its own output ``h_{t-d}``
    (:class:`~seqpipe.cells.keras_cells.skip_delay.SkipDelayCell`). Returns the output sequence, or with
    ``return_state`` ``(sequence, states)`` where ``states`` are the last layer's final states (``[h, c]``
    for LSTMs, ``[h]`` otherwise; both directions concatenated; never the skip buffer).
    """
    kind = get_cell(cell)
    states = []
    for i in range(layers):
        if i > 0 and dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout_{i}")(x)
        last = return_state and i == layers - 1
        layer_name = f"{name}_{kind.name}_{i}"
        if skip_delay > 0:
            step = kind.cell(units, recurrent_dropout=recurrent_dropout, name=f"{layer_name}_cell")
            n_states = len(state_sizes(step))
            layer = keras.layers.RNN(SkipDelayCell(step, skip_delay, name=f"{layer_name}_skip"),
                                     return_sequences=True, return_state=last, name=layer_name)
        else:
            layer = kind.layer(units, return_sequences=True, return_state=last, recurrent_dropout=recurrent_dropout,
                               name=layer_name)
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, merge_mode=merge_mode, name=f"{name}_bi{kind.name}_{i}")
        y = layer(x)
        if last:
            y, *states = y
            if skip_delay > 0:  # drop each direction's buffer of past outputs
                per_direction = len(states) // (2 if bidirectional else 1)
                states = [s for k, s in enumerate(states) if k % per_direction < n_states]
            if bidirectional:
                half = len(states) // 2
                states = [keras.layers.Concatenate(name=f"{name}_state_{k}")([f, b])
                          for k, (f, b) in enumerate(zip(states[:half], states[half:]))]
        if residual and x.shape[-1] == y.shape[-1]:
            y = keras.layers.Add(name=f"{name}_residual_{i}")([x, y])
        x = y
    return (x, states) if return_state else x
