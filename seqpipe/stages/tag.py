"""Predict one tag per token from the encoded sequence: softmax or a CRF with Viterbi decoding."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.config.schema import Schema
from seqpipe.pipeline.stage import Stage, register_stage


class TagConfig(Schema):
    output: Literal["softmax", "crf"] = Field("softmax", description="softmax: each token's tag on its own; crf: a linear-chain "
                                                                     "CRF scores tag transitions and decodes the best sequence (Viterbi)")
    hidden_units: int = Field(0, ge=0, description="a ReLU layer of this width before the output; 0 for none")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout before the output layer")


@register_stage
class TagStage(Stage):
    """Sequence labelling head: per-token scores over the training split's tags, optionally through a CRF."""

    name = "tag"
    order = 40
    requires = ("splits", "token_ids", "char_ids", "encoded")
    provides = ("labels", "model")
    tasks = ("tagging",)
    Config = TagConfig

    def run(self, ctx):
        import keras

        cfg = self.config
        # The tag set comes from every split: a tag that only held-out data has then counts as an error
        # (it is never predicted) instead of stopping the run.
        seen = {split: {tag for tags in frame["tags"] for tag in tags.split()} for split, frame in ctx["splits"].items()}
        labels = sorted(set().union(*seen.values()))
        unseen = sorted(set(labels) - seen["train"])
        if unseen:
            ctx.log.warning("tags that occur only in held-out data (never predicted): %s", ", ".join(unseen))
        x = ctx["encoded"]
        if cfg.hidden_units:
            x = keras.layers.Dense(cfg.hidden_units, activation="relu", name="hidden")(x)
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, name="output_dropout")(x)
        scores = keras.layers.Dense(len(labels), dtype="float32", name="tag_scores")(x)
        if cfg.output == "crf":
            from seqpipe.layers.crf import CRF

            scores = CRF(len(labels), name="crf")(scores)
        inputs = {"token_ids": ctx["token_ids"]}
        if ctx["char_ids"] is not None:
            inputs["char_ids"] = ctx["char_ids"]
        model = keras.Model(inputs, scores, name=ctx.config.name.replace("-", "_"))
        ctx.log.info("model: %s parameters, %d tags (%s output)", f"{model.count_params():,}", len(labels), cfg.output)
        ctx.tracker.log_metrics({"parameters": model.count_params(), "tags": len(labels)})
        ctx.put("labels", labels)
        ctx.put("model", model)
