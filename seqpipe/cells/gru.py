"""``gru``: the gated recurrent unit on Keras's GRU (reset_after=True, cuDNN-capable; no TensorFlow here)."""

from __future__ import annotations

from seqpipe.cells.base import Cell


class GRU(Cell):
    """Gated recurrent unit (Cho et al. 2014; Keras GRU, reset_after=True)."""

    name = "gru"
    cudnn_kernel = True

    def cell(self, units, *, recurrent_dropout=0.0, name=None):
        import keras

        return keras.layers.GRUCell(units, recurrent_dropout=recurrent_dropout, name=name)

    def layer(self, units, *, return_sequences=True, return_state=False, recurrent_dropout=0.0, name=None):
        import keras

        return keras.layers.GRU(units, return_sequences=return_sequences, return_state=return_state,
                                recurrent_dropout=recurrent_dropout, name=name)
