"""Score the trained model on held-out splits (what is scored, and how, is the task's)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from seqpipe.config.schema import RegistryName, Schema
from seqpipe.metrics import METRICS
from seqpipe.pipeline.stage import Stage, register_stage


class EvaluateConfig(Schema):
    metrics: list[Annotated[str, RegistryName(METRICS)]] | None = Field(
        None, description="metrics to report per split (seqpipe list metrics: those that score the task's "
                          "predictions); default: the task's")
    splits: list[Literal["valid", "test"]] = Field(default_factory=lambda: ["test"],
                                                   description="held-out splits to score")


@register_stage
class EvaluateStage(Stage):
    ("Scores held-out splits with the task's metrics: accuracy/F1, BLEU/chrF/TER/METEOR, perplexity, "
     "per-tag and span F1.")

    name = "evaluate"
    order = 70
    requires = ("trained_model", "encoder", "splits")
    provides = ("predictions",)
    Config = EvaluateConfig

    def run(self, ctx):
        ctx.put("predictions", ctx.task.evaluate(ctx, self.config))
