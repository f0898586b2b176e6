"""Token embeddings: the model's input layer (the task may add input features)."""

from __future__ import annotations

from pydantic import Field

from seqpipe.config.schema import Schema
from seqpipe.pipeline.stage import Stage, register_stage


class EmbedConfig(Schema):
    dim: int = Field(128, ge=1, description="embedding width")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the embeddings")


@register_stage
class EmbedStage(Stage):
    """Embedding of token ids with masking of padding (id 0); the task may join its own features."""

    name = "embed"
    order = 20
    requires = ("encoder",)
    provides = ("token_ids", "embedded")
    Config = EmbedConfig

    def run(self, ctx):
        import keras

        cfg = self.config
        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        x = keras.layers.Embedding(ctx["encoder"].vocabulary_size, cfg.dim, mask_zero=ctx.task.mask_padding,
                                   name="embedding")(ids)
        x = ctx.task.extend_embedding(ctx, cfg, x)
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, name="embedding_dropout")(x)
        ctx.put("token_ids", ids)
        ctx.put("embedded", x)
