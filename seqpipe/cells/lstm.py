"""``lstm``: long short-term memory, optionally with peepholes (no TensorFlow here).

With the default options, and with any ``forget_bias`` (only the initial value of a trainable bias), the
sequence layer is Keras's fused LSTM, which runs the cuDNN kernel on a GPU. On a machine without a GPU, layers
of at least ``MIN_UNITS`` (512) units are :class:`seqpipe.cells.keras_cells.fused_lstm.FusedLSTM` instead: the
same Keras layer and weights with a faster CPU loop (one input projection for all steps, a hand-written
gradient), which itself defers to Keras (and cuDNN) if it later runs where a GPU is visible.

``peepholes: true`` needs weights the fused kernels do not have, so it runs
:class:`seqpipe.cells.keras_cells.peephole_lstm.PeepholeLSTMCell` in ``keras.layers.RNN``.
"""

from __future__ import annotations

from pydantic import Field

from seqpipe.cells.base import Cell, CellOptions


class LSTMOptions(CellOptions):
    forget_bias: float = Field(1.0, description="initial value of the forget gate's bias (Jozefowicz et al. 2015: "
                                                "1 lets gradients flow through the cell state early in training)")
    peepholes: bool = Field(False, description="the gates also see the cell state: i_t, f_t from c_{t-1}, o_t from "
                                               "c_t, through diagonal weights (Gers & Schmidhuber 2000); no cuDNN")


class LSTM(Cell):
    """LSTM (Hochreiter & Schmidhuber); cuDNN kernel with the defaults."""

    name = "lstm"
    cudnn_kernel = True
    Options = LSTMOptions

    def _bias(self) -> dict:
        """Keras LSTM bias arguments: Keras's own ``unit_forget_bias`` for 1 (the layers seqpipe always built)."""
        if self.options.forget_bias == 1.0:
            return {}
        from seqpipe.cells.keras_cells.initializers import ForgetBias

        return {"unit_forget_bias": False, "bias_initializer": ForgetBias(self.options.forget_bias)}

    def cell(self, units, *, recurrent_dropout=0.0, name=None):
        import keras

        if self.options.peepholes:
            from seqpipe.cells.keras_cells.peephole_lstm import PeepholeLSTMCell

            return PeepholeLSTMCell(units, forget_bias=self.options.forget_bias, recurrent_dropout=recurrent_dropout,
                                    name=name)
        return keras.layers.LSTMCell(units, recurrent_dropout=recurrent_dropout, name=name, **self._bias())

    def layer(self, units, *, return_sequences=True, return_state=False, recurrent_dropout=0.0, name=None):
        if self.options.peepholes:
            return super().layer(units, return_sequences=return_sequences, return_state=return_state,
                                 recurrent_dropout=recurrent_dropout, name=name)
        from seqpipe.cells.keras_cells.fused_lstm import FusedLSTM

        return FusedLSTM.where_faster(units, return_sequences=return_sequences, return_state=return_state,
                                      recurrent_dropout=recurrent_dropout, name=name, **self._bias())

    def cudnn_eligible(self, recurrent_dropout=0.0):
        if self.options.peepholes:
            return False, ("cell 'lstm' with peepholes runs a custom Keras cell: the fused LSTM/cuDNN kernel has no "
                           "peephole weights")
        return super().cudnn_eligible(recurrent_dropout)
