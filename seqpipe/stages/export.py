"""Export a SavedModel that takes raw strings (tokenizer inside), log it to MLflow, optionally register it."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.schema import Schema

MODEL_NAME_MAX = 256  # MLflow's registered_models.name column
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_URI_CHARS = "/:@?"  # '/' and ':' MLflow refuses; '@' and '?' would change what models:/NAME/... means


def model_name_problem(value: str) -> str | None:
    """Why ``value`` cannot be a registered model name for ``register_as`` (None when it can)."""
    if not value.strip():
        return "must not be empty"
    if _CONTROL.search(value):
        return "must not contain control characters (tab, newline, ...)"
    if value != value.strip():
        return "must not start or end with a space"
    if found := sorted({c for c in value if c in _URI_CHARS}, key=_URI_CHARS.index):
        return (f"must not contain {' or '.join(repr(c) for c in found)}: the model is addressed as "
                "models:/NAME/VERSION or models:/NAME@ALIAS")
    if value in (".", ".."):
        return "must not be '.' or '..'"
    if len(value) > MODEL_NAME_MAX:
        return f"must be at most {MODEL_NAME_MAX} characters (MLflow's limit); got {len(value)}"
    return None


def _model_name(value: str) -> str:
    problem = model_name_problem(value)
    if problem:
        raise PydanticCustomError("model_name", problem)
    return value


ModelName = Annotated[str, AfterValidator(_model_name),
                      Field(json_schema_extra={"minLength": 1, "maxLength": MODEL_NAME_MAX, "pattern": r"^[^/:@?]+$"})]
"""A registered model name in the MLflow model registry (see :func:`model_name_problem`)."""


class ExportConfig(Schema):
    format: Literal["saved_model"] = Field("saved_model", description="export format")
    keras: bool = Field(True, description="also save the training model as model.keras")
    log_model: bool = Field(True, description="log the SavedModel to MLflow as a pyfunc model")
    register_as: ModelName | None = Field(
        None,
        description="register the logged MLflow model as a new version of this registered model (created if "
        "missing), tagged with the run's test/valid metrics, task, pipeline and run folder; the run gets the tag "
        "seqpipe.registered_model = NAME/VERSION. Serve it with seqpipe predict models:/NAME/VERSION (or "
        "models:/NAME@ALIAS, models:/NAME/latest). Needs log_model: true")

    @model_validator(mode="after")
    def _register_needs_the_logged_model(self) -> ExportConfig:
        if self.register_as is not None and not self.log_model:
            raise ValueError(f"register_as: {self.register_as} registers the logged MLflow model, so it needs "
                             "log_model: true; got log_model: false")
        return self


def key_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The run's headline scores for a model version's tags: test_* and valid_* metrics, not per-label ones."""
    return {k: v for k, v in metrics.items() if k.startswith(("test_", "valid_")) and "/" not in k}


@register_stage
class ExportStage(Stage):
    ("SavedModel with the task's string signatures (serving_default and others), model.keras, "
     "an MLflow pyfunc model, optionally a new version of a registered model.")

    name = "export"
    order = 80
    requires = ("trained_model", "encoder")
    provides = ("export_path",)
    Config = ExportConfig

    def run(self, ctx):
        from seqpipe.export.saved_model import serving_requirements

        if not ctx.chief:
            ctx.log.info("export: skipped on this worker (only the chief exports)")
            return
        model, target = ctx["trained_model"], ctx.path("export", "saved_model")
        path = ctx.task.runtime.export(ctx, self.config, target)
        ctx.log.info("exported SavedModel to %s", path)
        if self.config.keras:
            model.save(ctx.path("export", "model.keras"))
        ctx.tracker.log_artifact(path.parent)  # stored as export/saved_model, export/model.keras
        model_uri = None
        if self.config.log_model and not ctx.task.serving:
            ctx.log.warning("export: not logged as an MLflow model: task '%s' declares no serving module",
                            ctx.task.name)
        elif self.config.log_model:
            # the files beside the SavedModel (model.keras, a language model's text_encoder.json) travel with
            # it, so the MLflow model's artifacts/ folder is a copy of export/ and a registered version is whole
            beside = {p.name: p for p in sorted(path.parent.iterdir()) if p.is_file()}
            model_uri = ctx.tracker.log_pyfunc_model(path, pip_requirements=serving_requirements(),
                                                     extra_artifacts=beside,
                                                     serving=ctx.task.runtime.serving_module())
        if self.config.register_as is not None:
            self._register(ctx, model_uri, self.config.register_as)
        ctx.put("export_path", path)

    @staticmethod
    def _register(ctx, model_uri: str | None, name: str) -> None:
        if model_uri is None:  # no tracking (or not the chief worker), or logging the model failed (a warning)
            if ctx.config.tracking.backend == "none":
                ctx.log.warning("export: not registered as %s: tracking.backend is none", name)
            return
        tags = {**{k: repr(float(v)) for k, v in key_metrics(ctx.metrics).items()},
                "seqpipe.task": ctx.config.task, "seqpipe.pipeline": ctx.config.name,
                "seqpipe.run_dir": str(ctx.run_dir)}
        version = ctx.tracker.register_model(model_uri, name, tags)
        if version is not None:
            ctx.tracker.set_tags({"seqpipe.registered_model": f"{name}/{version}"})
            ctx.log.info("registered as models:/%s/%s", name, version)
