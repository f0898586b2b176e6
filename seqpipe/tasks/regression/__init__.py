"""Sequence regression: text in, one number out (masked pooling, a linear output, mean squared error).

Declaration only (no TensorFlow); the model code is in :mod:`.runtime`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.pipeline.stage import register_stage
from seqpipe.tasks.base import register_task
from seqpipe.tasks.pooled import POOLING, HeadConfig, HeadStage, PooledTask

NAME = "regression"


class RegressConfig(HeadConfig):
    pooling: Literal["last", "mean", "max", "attention"] = Field(
        "last", description=POOLING + "; last: the final state, what a long-dependency task such as the adding "
                                      "problem needs")


@register_stage
class RegressStage(HeadStage):
    """Regression head: masked pooling, optional hidden layer, one linear float32 output in the target's units."""

    name = "regress"
    requires = ("splits", "token_ids", "encoded", "encoder_layout")
    provides = ("model",)
    tasks = (NAME,)
    Config = RegressConfig


@register_task
class Regression(PooledTask):
    """Text in, a number out: masked pooling, a linear output; MSE, MAE, R2 and the always-the-mean baseline."""

    name = NAME
    roles = ("text", "target")  # target: a number
    monitors = ("loss", "mae", "val_loss", "val_mae")
    predicts = "numbers"
    default_metrics = ("mse", "mae")
    runtime_class = "seqpipe.tasks.regression.runtime:RegressionRuntime"
    serving = "seqpipe.tasks.regression.serving"
    evaluation_file = "{split}_predictions.csv"
    input_columns, reference_columns = ("text",), ("target",)

    def resampler(self, table, metric):
        """The errors of ``prediction`` against ``target`` (mse, mae)."""
        from seqpipe.metrics.resampling import RESAMPLERS

        if metric not in ("mse", "mae"):
            return None
        return RESAMPLERS[metric](table["target"].astype("float64").to_numpy(),
                                  table["prediction"].astype("float64").to_numpy())
    head_stage = "regress"

    def check_data(self, splits, data_cfg, report):
        from seqpipe.tasks.regression.targets import numeric_targets

        return numeric_targets(splits, data_cfg.on_error, report)
