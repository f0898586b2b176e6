"""Export a SavedModel that takes raw strings (tokenizer inside) and log it to MLflow."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.config.schema import Schema
from seqpipe.pipeline.stage import Stage, register_stage


class ExportConfig(Schema):
    format: Literal["saved_model"] = Field("saved_model", description="export format")
    keras: bool = Field(True, description="also save the training model as model.keras")
    log_model: bool = Field(True, description="log the SavedModel to MLflow as a pyfunc model")


@register_stage
class ExportStage(Stage):
    ("SavedModel with the task's string signatures (serving_default and others), model.keras, "
     "an MLflow pyfunc model.")

    name = "export"
    order = 80
    requires = ("trained_model", "encoder")
    provides = ("export_path",)
    Config = ExportConfig

    def run(self, ctx):
        from seqpipe.export.saved_model import serving_requirements

        model, target = ctx["trained_model"], ctx.path("export", "saved_model")
        path = ctx.task.export(ctx, self.config, target)
        ctx.log.info("exported SavedModel to %s", path)
        if self.config.keras:
            model.save(ctx.path("export", "model.keras"))
        ctx.tracker.log_artifact(path.parent)  # stored as export/saved_model, export/model.keras
        if self.config.log_model:
            ctx.tracker.log_pyfunc_model(path, pip_requirements=serving_requirements())
        ctx.put("export_path", path)
