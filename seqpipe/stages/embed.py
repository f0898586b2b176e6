"""Token embeddings (the model's input layer)."""

from __future__ import annotations

from pydantic import Field

from seqpipe.config.schema import Schema
from seqpipe.pipeline.stage import Stage, register_stage


class EmbedConfig(Schema):
    dim: int = Field(128, ge=1, description="embedding width")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the embeddings")


@register_stage
class EmbedStage(Stage):
    """Embedding of token ids with masking of padding (id 0)."""

    name = "embed"
    order = 20
    requires = ("encoder",)
    provides = ("token_ids", "embedded")
    Config = EmbedConfig

    def run(self, ctx):
        import keras

        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        # A language model reads left to right and its padding only ever follows the real tokens,
        # so it needs no mask (and Keras would otherwise carry one onto its logits).
        mask_zero = ctx.config.task != "language_model"
        x = keras.layers.Embedding(ctx["encoder"].vocabulary_size, self.config.dim, mask_zero=mask_zero, name="embedding")(ids)
        if self.config.dropout:
            x = keras.layers.Dropout(self.config.dropout, name="embedding_dropout")(x)
        ctx.put("token_ids", ids)
        ctx.put("embedded", x)
