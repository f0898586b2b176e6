"""Keras building blocks: attention (registered by name), recurrent stacks, decoder, pooling, CRF.

Recurrent cells are registered in :mod:`seqpipe.cells`.
"""

from pydantic import Field

from seqpipe.registry import Registry

# The keys only a Transformer section (encode or decode with kind: transformer) reads, declared once for both.
_TRANSFORMER_FIELDS = {
    "heads": dict(default=4, ge=1, description="transformer: attention heads (units must be a multiple)"),
    "ff_dim": dict(default=None, ge=1, description="transformer: the feed-forward width; default: 4 x units"),
    "normalize_first": dict(default=False, description="transformer: layer norm before each sublayer (pre-norm, "
                                                       "with a final norm); false: after, as in Vaswani et al. 2017"),
}
TRANSFORMER_KEYS = tuple(_TRANSFORMER_FIELDS)


def transformer_field(name: str):
    """The pydantic field of the Transformer key ``name`` (the same default and description in every section)."""
    return Field(**_TRANSFORMER_FIELDS[name])


def transformer_width_problem(section, stage: str):
    """The validation problem of a Transformer section (``encode``, ``decode``) whose width is not a multiple of its
    heads, as ``(key path, message)``, or None."""
    if section is not None and section.kind == "transformer" and section.units % section.heads:
        return (("stages", stage, "heads"), f"the width (units: {section.units}) must be a multiple of heads; "
                                            f"got {section.heads}")
    return None

ATTENTIONS = Registry("attention")
ATTENTIONS.register("bahdanau", "seqpipe.layers.attention:BahdanauAttention",
                    description="additive attention (Bahdanau et al. 2015); the query is the previous decoder state")
ATTENTIONS.register("luong_dot", "seqpipe.layers.attention:LuongDotAttention",
                    description="dot-product attention (Luong et al. 2015); decoder units must equal the memory width")
ATTENTIONS.register("luong_general", "seqpipe.layers.attention:LuongGeneralAttention",
                    description="bilinear 'general' attention (Luong et al. 2015)")
ATTENTIONS.register("none", "seqpipe.layers.attention:NoAttention",
                    description="no attention: the decoder sees the encoder only through the bridged state")
