"""Keras building blocks: recurrent cells (registered by name), stacks and pooling."""

from seqpipe.registry import Registry

CELLS = Registry("cell")
CELLS.register("rnn", "keras.layers:SimpleRNN", description="Elman RNN (keras SimpleRNN); no cuDNN kernel")
CELLS.register("lstm", "keras.layers:LSTM", description="LSTM (Hochreiter & Schmidhuber); cuDNN kernel with the defaults")
CELLS.register("gru", "keras.layers:GRU", description="GRU (Cho et al., reset_after=True); cuDNN kernel with the defaults")

CUDNN_CELLS = ("lstm", "gru")

ATTENTIONS = Registry("attention")
ATTENTIONS.register("bahdanau", "seqpipe.layers.attention:BahdanauAttention",
                    description="additive attention (Bahdanau et al. 2015); the query is the previous decoder state")
ATTENTIONS.register("luong_dot", "seqpipe.layers.attention:LuongDotAttention",
                    description="dot-product attention (Luong et al. 2015); decoder units must equal the memory width")
ATTENTIONS.register("luong_general", "seqpipe.layers.attention:LuongGeneralAttention",
                    description="bilinear 'general' attention (Luong et al. 2015)")
ATTENTIONS.register("none", "seqpipe.layers.attention:NoAttention",
                    description="no attention: the decoder sees the encoder only through the bridged state")
