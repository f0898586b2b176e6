"""``layer_norm_lstm``: LSTM with layer normalisation inside the recurrence (Ba et al. 2016; no TensorFlow here)."""

from __future__ import annotations

from pydantic import Field

from seqpipe.cells.base import Cell, CellOptions


class LayerNormLSTMOptions(CellOptions):
    forget_bias: float = Field(1.0, description="initial value of the forget gate's bias")


class LayerNormLSTM(Cell):
    """LSTM with layer-normalised gate pre-activations and cell state (Ba et al. 2016); no cuDNN kernel."""

    name = "layer_norm_lstm"
    Options = LayerNormLSTMOptions

    def cell(self, units, *, recurrent_dropout=0.0, name=None):
        from seqpipe.cells.keras_cells.layer_norm_lstm import LayerNormLSTMCell

        return LayerNormLSTMCell(units, forget_bias=self.options.forget_bias, recurrent_dropout=recurrent_dropout,
                                 name=name)

    def cudnn_eligible(self, recurrent_dropout=0.0):
        return False, ("cell 'layer_norm_lstm' normalises inside the recurrence, which the fused LSTM/cuDNN kernel "
                       "cannot do")
