"""The three cells Keras ships: SimpleRNN, LSTM and GRU (fused layers, cuDNN-capable for LSTM and GRU)."""

from __future__ import annotations

import keras

from seqpipe.cells import Cell


class SimpleRNN(Cell):
    """Elman RNN: h_t = tanh(W x_t + U h_{t-1} + b)."""

    name = "rnn"

    def cell(self, units, *, recurrent_dropout=0.0, name=None):
        return keras.layers.SimpleRNNCell(units, recurrent_dropout=recurrent_dropout, name=name)

    def layer(self, units, *, return_sequences=True, return_state=False, recurrent_dropout=0.0, name=None):
        return keras.layers.SimpleRNN(units, return_sequences=return_sequences, return_state=return_state,
                                      recurrent_dropout=recurrent_dropout, name=name)


class LSTM(Cell):
    """Long short-term memory (Keras LSTM; forget-gate bias initialised to 1)."""

    name = "lstm"
    cudnn_kernel = True

    def cell(self, units, *, recurrent_dropout=0.0, name=None):
        return keras.layers.LSTMCell(units, recurrent_dropout=recurrent_dropout, name=name)

    def layer(self, units, *, return_sequences=True, return_state=False, recurrent_dropout=0.0, name=None):
        return keras.layers.LSTM(units, return_sequences=return_sequences, return_state=return_state,
                                 recurrent_dropout=recurrent_dropout, name=name)


class GRU(Cell):
    """Gated recurrent unit (Keras GRU, reset_after=True)."""

    name = "gru"
    cudnn_kernel = True

    def cell(self, units, *, recurrent_dropout=0.0, name=None):
        return keras.layers.GRUCell(units, recurrent_dropout=recurrent_dropout, name=name)

    def layer(self, units, *, return_sequences=True, return_state=False, recurrent_dropout=0.0, name=None):
        return keras.layers.GRU(units, return_sequences=return_sequences, return_state=return_state,
                                recurrent_dropout=recurrent_dropout, name=name)
