"""Gate activations of one step of a gated cell, for diagnostics (saturation, forget-gate statistics, ...).

seqpipe's gated cells have a ``gate_activations(inputs, states)`` method; for Keras's own ``LSTMCell`` and
``GRUCell`` the gates are computed here from the cell's weights, as the cells compute them.
"""

from __future__ import annotations

import keras
from keras import ops


def _tensors(cell, inputs, states):
    dtype = cell.variable_dtype
    states = list(states) if isinstance(states, (list, tuple)) else [states]
    return ops.convert_to_tensor(inputs, dtype), [ops.convert_to_tensor(s, dtype) for s in states]


def lstm_gates(cell: keras.layers.LSTMCell, inputs, states) -> dict:
    """Gates of Keras's ``LSTMCell``: ``z = x K + h_{t-1} R + b`` split in Keras's order (i, f, c, o);
    returns ``{"input", "forget", "output"}`` after the cell's recurrent activation (sigmoid)."""
    x, (h, _) = _tensors(cell, inputs, states)
    z = ops.matmul(x, cell.kernel) + ops.matmul(h, cell.recurrent_kernel)
    if cell.use_bias:
        z = z + cell.bias
    z_i, z_f, _, z_o = ops.split(z, 4, axis=-1)
    act = cell.recurrent_activation
    return {"input": act(z_i), "forget": act(z_f), "output": act(z_o)}


def gru_gates(cell: keras.layers.GRUCell, inputs, states) -> dict:
    """Gates of Keras's ``GRUCell`` (order z, r, h): ``{"update": z_t, "reset": r_t}``.

    With ``reset_after=True`` (seqpipe's GRU) the bias has an input row and a recurrent row, and
    ``z_t = act(x K_z + b_z + h_{t-1} R_z + b'_z)``; otherwise one bias, added once. The gates do not depend on
    ``reset_after`` otherwise (it only changes where ``r_t`` enters the candidate).
    """
    x, (h,) = _tensors(cell, inputs, states)
    x_part = ops.matmul(x, cell.kernel)
    h_part = ops.matmul(h, cell.recurrent_kernel)
    if cell.use_bias:
        if cell.reset_after:
            x_part, h_part = x_part + cell.bias[0], h_part + cell.bias[1]
        else:
            x_part = x_part + cell.bias
    x_z, x_r, _ = ops.split(x_part, 3, axis=-1)
    h_z, h_r, _ = ops.split(h_part, 3, axis=-1)
    act = cell.recurrent_activation
    return {"update": act(x_z + h_z), "reset": act(x_r + h_r)}


def gate_activations(cell, inputs, states) -> dict:
    """The post-sigmoid gates of one step of ``cell`` (or of the cell of a ``keras.layers.RNN``) on ``inputs``
    ``(batch, features)`` and ``states`` (as the cell takes them), each ``(batch, units)``, computed in the
    weights' dtype without dropout: ``{"input", "forget", "output"}`` for LSTM-like cells, ``{"update",
    "reset"}`` for GRU. A ``TypeError`` for cells without gates (Elman, leaky, echo state)."""
    if isinstance(cell, keras.layers.RNN):
        cell = cell.cell
    if hasattr(cell, "gate_activations"):
        return cell.gate_activations(inputs, states)
    if isinstance(cell, keras.layers.LSTMCell):
        return lstm_gates(cell, inputs, states)
    if isinstance(cell, keras.layers.GRUCell):
        return gru_gates(cell, inputs, states)
    raise TypeError(f"{type(cell).__name__} has no gates")
