"""Sequence regression with TensorFlow: the head, the evaluation table, export and serving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from seqpipe.tasks.pooled.runtime import PooledRuntime, pooled_features


def targets(frame: pd.DataFrame) -> np.ndarray:
    """The ``target`` column as float32 ``(rows, 1)`` (checked numeric by the task's ``check_data``)."""
    return frame["target"].to_numpy(dtype="float32").reshape(-1, 1)


class RegressionRuntime(PooledRuntime):
    """One linear output in the target's units; MSE, MAE, R2 and the always-the-training-mean baseline."""

    def build_head(self, ctx, cfg) -> None:
        """The regress stage: masked pooling, optional hidden layer, one linear output.

        The output is rescaled by the training targets' mean and standard deviation (a fixed layer), so the
        untrained model predicts about the mean and the weights learn in unit scale whatever the target's units.
        """
        import keras

        train = ctx["splits"]["train"]["target"].to_numpy(dtype="float64")
        mean, std = float(train.mean()), float(train.std())
        std = std if std > 0 else 1.0
        x = keras.layers.Dense(1, dtype="float32", name="standardized")(pooled_features(ctx, cfg))
        value = keras.layers.Rescaling(std, offset=mean, dtype="float32", name="value")(x)
        model = keras.Model(ctx["token_ids"], value, name=ctx.config.name.replace("-", "_"))
        ctx.log.info("model: %s parameters; training targets: mean %.4g, standard deviation %.4g",
                     f"{model.count_params():,}", mean, std)
        ctx.tracker.log_metrics({"parameters": model.count_params()})
        ctx.put("model", model)

    def targets(self, ctx, frame, split):
        return targets(frame)

    def compile_args(self, ctx):
        import keras

        return {"loss": keras.losses.MeanSquaredError(), "metrics": [keras.metrics.MeanAbsoluteError(name="mae")]}

    def evaluation_table(self, ctx, cfg, split):
        """The split's rows with the ``prediction``."""
        table = ctx["splits"][split].reset_index(drop=True).copy()
        table["target"] = table["target"].to_numpy(dtype="float64")
        table["prediction"] = self.outputs(ctx, table)[:, 0].astype("float64")
        return table

    def score(self, ctx, cfg, table):
        """The metrics, and ``mse_of_the_mean``: the squared error of always predicting the training mean."""
        from seqpipe.metrics import METRICS

        y_true, y_pred = table["target"].to_numpy(dtype="float64"), table["prediction"].to_numpy(dtype="float64")
        train_mean = float(ctx["splits"]["train"]["target"].to_numpy(dtype="float64").mean())
        scores = {m: METRICS.get(m)(y_true, y_pred) for m in cfg.metrics or self.task.default_metrics}
        scores["mse_of_the_mean"] = float(np.mean((y_true - train_mean) ** 2))
        return scores

    def write_report(self, ctx, cfg, split, table):
        out = ctx.path("evaluation", self.task.evaluation_file.format(split=split))
        table.to_csv(out, index=False)
        ctx.tracker.log_artifact(out, "evaluation")

    def serving_outputs(self, ctx, values, answered):
        """No known token: value NaN (docs/serving.md#empty-and-unknown-input)."""
        return {"value": tf.where(answered, values[:, 0], float("nan"))}

    def describe_args(self, ctx):
        return {"outputs": "`value` (float32 [batch]), `known_tokens` (int32 [batch])",
                "extra": "One number per text; NaN for a text with no known token."}

