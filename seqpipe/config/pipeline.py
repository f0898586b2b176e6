"""The top-level pipeline schema, assembled from the registered stages."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, create_model

from seqpipe.schema import CwdPathStr, LabelStr, ModuleName, NameStr, NonEmptyStr, RegistryName, Schema

TOP_LEVEL = {"name", "description", "extends", "plugins", "seed", "task", "tracking", "data", "runtime", "output_dir",
             "stages", "sweep"}


class RuntimeConfig(Schema):
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "float32", description="Keras dtype policy; mixed_* computes in 16 bits and keeps float32 weights and outputs")
    distribute: Literal["none", "mirrored", "multi_worker"] = Field(
        "none", description="tf.distribute strategy: mirrored (all local GPUs; without GPUs, every logical CPU "
                            "device) or multi_worker (reads TF_CONFIG; only the chief tracks and exports). "
                            "train.batch_size is the global batch, split over the replicas: keep it to get the "
                            "one-device loss curve, or multiply it by the replicas (and scale the learning rate) "
                            "for throughput")
    deterministic: bool = Field(False, description="enable TensorFlow op determinism (slower; bit-identical reruns)")


def _stage_key(value: Any) -> str | None:
    if isinstance(value, Schema):  # serialising a validated entry
        return next(iter(type(value).model_fields))
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value))
    return None


_MODELS: dict[tuple, type] = {}


def load_components() -> None:
    """Register the built-in stages and tasks (the tasks bring their own stages); no TensorFlow."""
    import seqpipe.stages  # noqa: F401
    import seqpipe.tasks  # noqa: F401


def stage_config(name: str) -> type[Schema]:
    """The config class of stage ``name``: its own keys plus the keys tasks add to it (see ``Task.stage_keys``)."""
    from seqpipe.pipeline.stage import STAGES
    from seqpipe.tasks.base import task_key_fields

    stage = STAGES.get(name)
    extra = task_key_fields(name)
    if not extra:
        return stage.Config
    return create_model(stage.Config.__name__, __base__=stage.Config, __doc__=stage.Config.__doc__, **extra)


def pipeline_model() -> type[Schema]:
    """The ``PipelineConfig`` model, built from the stage, task and tracker registries (rebuilt when they change)."""
    load_components()
    from seqpipe.pipeline.stage import STAGES
    from seqpipe.tasks.base import TASKS
    from seqpipe.tracking import TRACKERS

    key = (STAGES.version, TASKS.version, TRACKERS.version)
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = _build_model()
    return _MODELS[key]


def _build_model() -> type[Schema]:
    from seqpipe.config.sweep import SweepConfig
    from seqpipe.data.config import DataConfig
    from seqpipe.pipeline.stage import STAGES
    from seqpipe.tasks.base import TASKS
    from seqpipe.tracking import TRACKERS

    class TrackingConfig(Schema):
        backend: Annotated[str, RegistryName(TRACKERS)] = Field(
            "mlflow", description="where runs are recorded: mlflow, or none")
        experiment: LabelStr | None = Field(None, description="MLflow experiment; defaults to the pipeline name "
                                                              "(spaces allowed, not at the ends)")
        uri: NonEmptyStr | None = Field(None, description="MLflow tracking URI; defaults to $MLFLOW_TRACKING_URI, "
                                                          "else sqlite:///mlflow.db in the working directory")
        run_name: NameStr | None = Field(None, description="MLflow run name; defaults to <pipeline name>-<time> "
                                                           "(letters, digits, '.', '_', '-')")
        tags: dict[str, str] = Field(default_factory=dict, description="extra tags for the run")

    entries = []
    for name, stage in STAGES.items():
        entry = create_model(
            f"{name.title().replace('_', '')}Stage", __base__=Schema,
            __doc__=STAGES.describe(name),
            **{name: (stage_config(name), Field(description=STAGES.describe(name)))},
        )
        entries.append(Annotated[entry, Tag(name)])
    StageEntry = Annotated[
        Union[tuple(entries)],
        Discriminator(
            _stage_key, custom_error_type="stage_entry",
            custom_error_message="each stage must be a mapping with exactly one key, the stage name",
        ),
    ]

    class PipelineConfig(Schema):
        """A seqpipe pipeline: data, an ordered list of stages, tracking."""

        name: NameStr = Field(description="pipeline name (letters, digits, '.', '_', '-'; defaults to the file name): "
                                          "the run folder is <name>-<time>; also the default MLflow experiment")
        description: str = Field("", description="free text, logged as the run's description")
        extends: list[str] = Field(default_factory=list,
                                   description="YAML fragments layered under this file (paths relative to it; "
                                               "the rightmost wins, then this file)")
        plugins: list[ModuleName] = Field(
            default_factory=list,
            description="Python modules (dotted names on the Python path) imported before the rest of the file is "
                        "validated, so the stages, tasks, cells, ... they register can be named here; the only way "
                        "a pipeline file imports code")
        seed: int = Field(13, description="seed for splits, initialisation, shuffling and dropout")
        task: Annotated[str, RegistryName(TASKS)] = Field(description="what the pipeline learns (seqpipe list tasks)")
        tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="experiment tracking")
        data: DataConfig = Field(description="where the examples come from and how they are split")
        runtime: RuntimeConfig = Field(default_factory=RuntimeConfig,
                                       description="precision, distribution, determinism")
        output_dir: CwdPathStr = Field("runs", description="run folders are created under this directory "
                                                    "(relative to the working directory)")
        stages: list[StageEntry] = Field(min_length=1, description="the pipeline's stages, in order")
        sweep: SweepConfig | None = Field(None, description="a family of runs for seqpipe sweep "
                                                            "(seqpipe run ignores it)")

        def stage(self, name: str) -> Any | None:
            """The config of stage ``name``, or None when the pipeline has no such stage."""
            for entry in self.stages:
                if name in type(entry).model_fields:
                    return getattr(entry, name)
            return None

        def stage_names(self) -> list[str]:
            return [next(iter(type(e).model_fields)) for e in self.stages]

    return PipelineConfig


def stage_order(name: str) -> int:
    """A stage's canonical place in a pipeline (unknown names go last, for the error)."""
    load_components()
    from seqpipe.pipeline.stage import STAGES
    return STAGES.get(name).order if name in STAGES else 10_000
