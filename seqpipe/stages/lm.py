"""The language-model head: next-token logits at every position."""

from __future__ import annotations

from pydantic import Field

from seqpipe.config.schema import Schema
from seqpipe.pipeline.stage import Stage, register_stage


class LMConfig(Schema):
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the recurrent outputs before the output layer")


@register_stage
class LMStage(Stage):
    """Next-token softmax over the recurrent outputs (a recurrent language model)."""

    name = "lm"
    order = 40
    requires = ("token_ids", "encoded", "encoder")
    provides = ("model", "language_model")
    tasks = ("language_model",)
    Config = LMConfig

    def run(self, ctx):
        import keras

        from seqpipe.tasks.language_model import LanguageModel

        x = ctx["encoded"]
        if self.config.dropout:
            x = keras.layers.Dropout(self.config.dropout, name="lm_dropout")(x)
        logits = keras.layers.Dense(ctx["encoder"].vocabulary_size, dtype="float32", name="lm_logits")(x)
        model = keras.Model(ctx["token_ids"], logits, name=ctx.config.name.replace("-", "_"))
        ctx.log.info("model: %s parameters", f"{model.count_params():,}")
        ctx.tracker.log_metrics({"parameters": model.count_params()})
        ctx.put("model", model)
        ctx.put("language_model", LanguageModel(model, ctx["encoder"]))
