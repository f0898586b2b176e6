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
    """SavedModel with string signatures (serving_default, translate, score/generate; tags for tagging) and an MLflow pyfunc model."""

    name = "export"
    order = 80
    requires = ("trained_model", "encoder")
    provides = ("export_path",)
    Config = ExportConfig

    def run(self, ctx):
        import json

        from seqpipe.export.saved_model import (export_classifier, export_language_model, export_tagger,
                                                export_translator, serving_requirements)

        model, encoder, target = ctx["trained_model"], ctx["encoder"], ctx.path("export", "saved_model")
        if ctx.config.task == "translation":
            generate = ctx.config.stage("generate")
            decoding = generate.decoding.model_dump() if generate else {"strategy": "greedy"}
            path = export_translator(ctx["translator"], decoding, target, ctx.config)
        elif ctx.config.task == "language_model":
            sample = ctx.config.stage("sample")
            decoding = sample.decoding.model_dump() if sample else {"strategy": "sampling", "temperature": 0.8, "seed": 1}
            path = export_language_model(ctx["language_model"], decoding, sample.max_length if sample else 300,
                                         target, ctx.config)
            (target.parent / "text_encoder.json").write_text(json.dumps(ctx["encoder"].get_config()), encoding="utf-8")
        elif ctx.config.task == "tagging":
            from seqpipe.tasks.tagging import Tagger

            path = export_tagger(Tagger(model, encoder, ctx["char_encoder"], ctx["labels"]), target, ctx.config)
        else:
            path = export_classifier(model, encoder, ctx["labels"], target, ctx.config)
        ctx.log.info("exported SavedModel to %s", path)
        if self.config.keras:
            model.save(ctx.path("export", "model.keras"))
        ctx.tracker.log_artifact(path.parent)  # stored as export/saved_model, export/model.keras
        if self.config.log_model:
            ctx.tracker.log_pyfunc_model(path, pip_requirements=serving_requirements())
        ctx.put("export_path", path)
