"""Keras building blocks: attention (registered by name), recurrent stacks, decoder, pooling, CRF.

Recurrent cells are registered in :mod:`seqpipe.cells`.
"""

from seqpipe.registry import Registry

TRANSFORMER_KEYS = ("heads", "ff_dim", "normalize_first")  # the keys only encode/decode kind 'transformer' reads

ATTENTIONS = Registry("attention")
ATTENTIONS.register("bahdanau", "seqpipe.layers.attention:BahdanauAttention",
                    description="additive attention (Bahdanau et al. 2015); the query is the previous decoder state")
ATTENTIONS.register("luong_dot", "seqpipe.layers.attention:LuongDotAttention",
                    description="dot-product attention (Luong et al. 2015); decoder units must equal the memory width")
ATTENTIONS.register("luong_general", "seqpipe.layers.attention:LuongGeneralAttention",
                    description="bilinear 'general' attention (Luong et al. 2015)")
ATTENTIONS.register("none", "seqpipe.layers.attention:NoAttention",
                    description="no attention: the decoder sees the encoder only through the bridged state")
