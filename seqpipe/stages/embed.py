"""Token embeddings: the model's input layer (the task may add input features)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.schema import Schema


class EmbedConfig(Schema):
    kind: Literal["learned", "one_hot"] = Field(
        "learned", description="learned: a trainable embedding of dim values per token; one_hot: each token is a "
                               "one-hot vector of the vocabulary size, no weights (char-level models, synthetic "
                               "tasks); padding stays all zeros and masked either way")
    dim: int = Field(128, ge=1, description="embedding width (kind: learned; one_hot's width is the vocabulary size)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the embeddings")

    @model_validator(mode="wrap")
    @classmethod
    def _one_hot_has_no_dim(cls, data: Any, handler):
        config = handler(data)
        if config.kind == "one_hot" and "dim" in config.model_fields_set:
            raise ValidationError.from_exception_data(cls.__name__, [{
                "type": PydanticCustomError("not_read", "not read with kind: one_hot (its width is the vocabulary "
                                                        "size); remove it"),
                "loc": ("dim",), "input": None}])
        return config


@register_stage
class EmbedStage(Stage):
    """Embedding of token ids (learned, or one-hot) with padding (id 0) masked; the task may join its own features."""

    name = "embed"
    order = 20
    requires = ("encoder",)
    provides = ("token_ids", "embedded")
    Config = EmbedConfig

    def run(self, ctx):
        import keras

        cfg = self.config
        ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        size = ctx["encoder"].vocabulary_size
        if cfg.kind == "one_hot":
            from seqpipe.layers.one_hot import OneHot

            x = OneHot(size, mask_zero=ctx.task.mask_padding, name="embedding")(ids)  # the name other code looks up
        else:
            x = keras.layers.Embedding(size, cfg.dim, mask_zero=ctx.task.mask_padding, name="embedding")(ids)
        x = ctx.task.runtime.extend_embedding(ctx, cfg, x)
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, name="embedding_dropout")(x)
        ctx.put("token_ids", ids)
        ctx.put("embedded", x)
