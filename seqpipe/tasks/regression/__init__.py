"""Sequence regression: text in, one number out (masked pooling, a linear output, mean squared error).

Declaration only (no TensorFlow); the model code is in :mod:`.runtime`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.config.schema import Schema
from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.tasks.base import Task, register_task
from seqpipe.tasks.keys import BucketingKeys, TreeKeys

NAME = "regression"


class RegressConfig(Schema):
    pooling: Literal["last", "mean", "max", "attention"] = Field(
        "last", description="how the sequence becomes one vector (mask-aware); last: the final state, what a "
                            "long-dependency task such as the adding problem needs")
    hidden_units: int = Field(0, ge=0, description="a ReLU layer of this width before the output; 0 for none")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout before the output layer")


@register_stage
class RegressStage(Stage):
    """Regression head: masked pooling, optional hidden layer, one linear float32 output in the target's units."""

    name = "regress"
    order = 40
    requires = ("splits", "token_ids", "encoded", "encoder_layout")
    provides = ("model",)
    tasks = (NAME,)
    Config = RegressConfig

    def run(self, ctx):
        from seqpipe.tasks.regression.runtime import build_head

        build_head(ctx, self.config)


@register_task
class Regression(Task):
    """Text in, a number out: masked pooling, a linear output; MSE, MAE, R2 and the always-the-mean baseline."""

    name = NAME
    roles = ("text", "target")  # target: a number
    monitors = ("loss", "mae", "val_loss", "val_mae")
    predicts = "numbers"
    default_metrics = ("mse", "mae")
    stage_keys = {"train": (BucketingKeys,), "encode": (TreeKeys,)}

    def rules(self, config):
        yield from TreeKeys.rules(config, self.default_tokenizer)
        regress, encode = config.stage("regress"), config.stage("encode")
        if (regress and encode and getattr(encode, "tree", None) is None and regress.pooling == "last"
                and encode.bidirectional and encode.merge_mode != "concat"):
            yield (("stages", "regress", "pooling"), "'last' over a bidirectional encoder needs "
                                                     f"stages.encode.merge_mode 'concat'; got '{encode.merge_mode}'")

    def check_data(self, splits, data_cfg, report):
        from seqpipe.tasks.regression.targets import numeric_targets

        return numeric_targets(splits, data_cfg.on_error, report)

    def fit(self, ctx, cfg):
        from seqpipe.tasks.regression.runtime import fit

        return fit(ctx, cfg)

    def evaluate(self, ctx, cfg):
        from seqpipe.tasks.regression.runtime import evaluate

        return evaluate(ctx, cfg, list(cfg.metrics or self.default_metrics))

    def export(self, ctx, cfg, target):
        from seqpipe.tasks.regression.runtime import export

        return export(ctx, target)

    def predict_table(self, saved_model, texts, meta):
        from seqpipe.tasks.regression.runtime import predict_table

        return predict_table(saved_model, texts)
