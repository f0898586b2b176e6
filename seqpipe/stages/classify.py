"""Pool the encoded sequence and predict a class."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.config.schema import Schema
from seqpipe.pipeline.stage import Stage, register_stage


class ClassifyConfig(Schema):
    pooling: Literal["max", "mean", "last", "attention"] = Field("max", description="how the sequence becomes one vector (mask-aware)")
    hidden_units: int = Field(0, ge=0, description="a ReLU layer of this width before the output; 0 for none")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout before the output layer")


@register_stage
class ClassifyStage(Stage):
    """Sequence classification head: masked pooling, optional hidden layer, softmax."""

    name = "classify"
    order = 40
    requires = ("splits", "token_ids", "encoded")
    provides = ("labels", "model")
    tasks = ("classification",)
    Config = ClassifyConfig

    def run(self, ctx):
        import keras

        from seqpipe.layers.pooling import MaskedPooling

        cfg = self.config
        labels = sorted(set(ctx["splits"]["train"]["label"]))
        encode = ctx.config.stage("encode")
        backward = encode.units if (encode and encode.bidirectional and encode.merge_mode == "concat") else 0
        x = MaskedPooling(cfg.pooling, backward_units=backward if cfg.pooling == "last" else 0, name="pooling")(ctx["encoded"])
        if cfg.hidden_units:
            x = keras.layers.Dense(cfg.hidden_units, activation="relu", name="hidden")(x)
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, name="output_dropout")(x)
        probs = keras.layers.Dense(len(labels), activation="softmax", dtype="float32", name="probabilities")(x)
        model = keras.Model(ctx["token_ids"], probs, name=ctx.config.name.replace("-", "_"))
        ctx.log.info("model: %s parameters, classes: %s", f"{model.count_params():,}", ", ".join(labels))
        ctx.tracker.log_metrics({"parameters": model.count_params()})
        ctx.put("labels", labels)
        ctx.put("model", model)
