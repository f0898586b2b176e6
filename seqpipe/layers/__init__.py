"""Keras building blocks: recurrent cells (registered by name), stacks and pooling."""

from seqpipe.registry import Registry

CELLS = Registry("cell")
CELLS.register("rnn", "keras.layers:SimpleRNN", description="Elman RNN (keras SimpleRNN); no cuDNN kernel")
CELLS.register("lstm", "keras.layers:LSTM", description="LSTM (Hochreiter & Schmidhuber); cuDNN kernel with the defaults")
CELLS.register("gru", "keras.layers:GRU", description="GRU (Cho et al., reset_after=True); cuDNN kernel with the defaults")

CUDNN_CELLS = ("lstm", "gru")
