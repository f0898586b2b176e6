"""``rnn``: the Elman RNN, h_t = act(W x_t + U h_{t-1} + b), on Keras's SimpleRNN (no TensorFlow here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.cells.base import Cell, CellOptions


class ElmanOptions(CellOptions):
    activation: Literal["tanh", "relu"] = Field("tanh", description="the unit's nonlinearity")


class SimpleRNN(Cell):
    """Elman RNN: h_t = act(W x_t + U h_{t-1} + b) (Keras SimpleRNN; act is tanh or relu)."""

    name = "rnn"
    Options = ElmanOptions

    def cell(self, units, *, recurrent_dropout=0.0, name=None):
        import keras

        return keras.layers.SimpleRNNCell(units, activation=self.options.activation,
                                          recurrent_dropout=recurrent_dropout, name=name)

    def layer(self, units, *, return_sequences=True, return_state=False, recurrent_dropout=0.0, name=None):
        import keras

        return keras.layers.SimpleRNN(units, activation=self.options.activation, return_sequences=return_sequences,
                                      return_state=return_state, recurrent_dropout=recurrent_dropout, name=name)
