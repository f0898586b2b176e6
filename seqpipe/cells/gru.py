"""``gru``: the gated recurrent unit on Keras's GRU (reset_after=True, cuDNN-capable; no TensorFlow here).

On a machine without a GPU, layers of at least ``MIN_UNITS`` (512) units are
:class:`seqpipe.cells.keras_cells.fused_gru.FusedGRU`: the same Keras layer and weights with a faster CPU loop,
which itself defers to Keras (and cuDNN) if it later runs where a GPU is visible.
"""

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
        from seqpipe.cells.keras_cells.fused_gru import FusedGRU

        return FusedGRU.where_faster(units, return_sequences=return_sequences, return_state=return_state,
                                     recurrent_dropout=recurrent_dropout, name=name)
