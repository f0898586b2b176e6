"""Sequence classification: text in, one label out (masked pooling, softmax).

Declaration only (no TensorFlow); the model code is in :mod:`.runtime`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.pipeline.stage import register_stage
from seqpipe.tasks.base import register_task
from seqpipe.tasks.pooled import POOLING, HeadConfig, HeadStage, PooledTask

NAME = "classification"


class ClassifyConfig(HeadConfig):
    pooling: Literal["max", "mean", "last", "attention"] = Field("max", description=POOLING)


@register_stage
class ClassifyStage(HeadStage):
    """Sequence classification head: masked pooling, optional hidden layer, softmax."""

    name = "classify"
    requires = ("splits", "token_ids", "encoded", "encoder_layout")
    provides = ("labels", "model")
    tasks = (NAME,)
    Config = ClassifyConfig


@register_task
class Classification(PooledTask):
    """Text in, one label out: masked pooling over the encoder, softmax; accuracy and F1 per class."""

    name = NAME
    roles = ("text", "label")
    monitors = ("loss", "accuracy", "val_loss", "val_accuracy")
    predicts = "labels"
    default_metrics = ("accuracy", "macro_f1")
    requires = {"train": ("labels",), "evaluate": ("labels",), "export": ("labels",)}
    runtime_class = "seqpipe.tasks.classification.runtime:ClassificationRuntime"
    serving = "seqpipe.tasks.classification.serving"
    head_stage = "classify"
    evaluation_file = "{split}_predictions.csv"
    input_columns, reference_columns = ("text",), ("label",)

    def resampler(self, table, metric):
        """Class ids of ``label`` and ``predicted``; the classes are those of the ``p_<label>`` columns (every
        training label), so macro averages count the classes a split never shows, as the logged scores do."""
        from seqpipe.metrics import METRICS
        from seqpipe.metrics.resampling import RESAMPLERS

        if metric not in RESAMPLERS or metric not in METRICS or METRICS.get(metric).scores != "labels":
            return None
        true, pred = table["label"].astype(str), table["predicted"].astype(str)
        labels = sorted({c[2:] for c in table.columns if c.startswith("p_")} | set(true) | set(pred))
        index = {label: i for i, label in enumerate(labels)}
        return RESAMPLERS[metric](true.map(index).to_numpy(), pred.map(index).to_numpy(), len(labels))

    def check_data(self, splits, data_cfg, report):
        from seqpipe.data.checks import drop_rows, heldout_message, single_value, values_only_in_heldout
        from seqpipe.errors import DataError

        problem = single_value(splits, "label")
        if problem:
            raise DataError(problem)
        unseen = values_only_in_heldout(splits, "label")
        if unseen:
            if data_cfg.on_error == "skip":
                return drop_rows(splits, unseen, report, column="label")
            raise DataError(heldout_message(splits, "label", unseen))
        return splits
