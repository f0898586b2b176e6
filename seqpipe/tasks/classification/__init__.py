"""Sequence classification: text in, one label out (masked pooling, softmax).

Declaration only (no TensorFlow); the model code is in :mod:`.runtime`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.config.schema import Schema
from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.tasks.base import Task, register_task
from seqpipe.tasks.keys import BucketingKeys, TreeKeys

NAME = "classification"


class ClassifyConfig(Schema):
    pooling: Literal["max", "mean", "last", "attention"] = Field(
        "max", description="how the sequence becomes one vector (mask-aware)")
    hidden_units: int = Field(0, ge=0, description="a ReLU layer of this width before the output; 0 for none")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout before the output layer")


@register_stage
class ClassifyStage(Stage):
    """Sequence classification head: masked pooling, optional hidden layer, softmax."""

    name = "classify"
    order = 40
    requires = ("splits", "token_ids", "encoded", "encoder_layout")
    provides = ("labels", "model")
    tasks = (NAME,)
    Config = ClassifyConfig

    def run(self, ctx):
        from seqpipe.tasks.classification.runtime import build_head

        build_head(ctx, self.config)


@register_task
class Classification(Task):
    """Text in, one label out: masked pooling over the encoder, softmax; accuracy and F1 per class."""

    name = NAME
    roles = ("text", "label")
    monitors = ("loss", "accuracy", "val_loss", "val_accuracy")
    predicts = "labels"
    default_metrics = ("accuracy", "macro_f1")
    stage_keys = {"train": (BucketingKeys,), "encode": (TreeKeys,)}
    requires = {"train": ("labels",), "evaluate": ("labels",), "export": ("labels",)}

    def rules(self, config):
        yield from TreeKeys.rules(config, self.default_tokenizer)
        classify, encode = config.stage("classify"), config.stage("encode")
        if (classify and encode and getattr(encode, "tree", None) is None and classify.pooling == "last"
                and encode.bidirectional and encode.merge_mode != "concat"):
            yield (("stages", "classify", "pooling"), "'last' over a bidirectional encoder needs "
                                                      f"stages.encode.merge_mode 'concat'; got '{encode.merge_mode}'")

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

    def fit(self, ctx, cfg):
        from seqpipe.tasks.classification.runtime import fit

        return fit(ctx, cfg)

    def evaluate(self, ctx, cfg):
        from seqpipe.tasks.classification.runtime import evaluate

        return evaluate(ctx, cfg, list(cfg.metrics or self.default_metrics))

    def export(self, ctx, cfg, target):
        from seqpipe.tasks.classification.runtime import export

        return export(ctx, target)

    def predict_table(self, saved_model, texts, meta):
        from seqpipe.tasks.classification.runtime import predict_table

        return predict_table(saved_model, texts, meta)
