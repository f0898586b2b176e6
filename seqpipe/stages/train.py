"""Fit the model with Keras on tf.data, with early stopping and best-checkpoint restore."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seqpipe.config.schema import Schema
from seqpipe.pipeline.stage import Stage, register_stage


class OptimizerConfig(Schema):
    name: Literal["adam", "adamw", "nadam", "rmsprop", "sgd"] = Field("adam", description="Keras optimizer")
    learning_rate: float = Field(1e-3, gt=0, description="learning rate")
    weight_decay: float | None = Field(None, ge=0, description="decoupled weight decay (adamw; others apply it too)")
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd/rmsprop momentum")


class EarlyStoppingConfig(Schema):
    patience: int = Field(2, ge=0, description="epochs without improvement of train.monitor before stopping")
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as an improvement")


class DiagnosticsConfig(Schema):
    every: int = Field(50, ge=1, description="record every N training steps, on one fixed batch")


class TrainConfig(Schema):
    epochs: int = Field(5, ge=1, description="passes over the training split")
    batch_size: int = Field(64, ge=1, description="examples per batch (per replica count is handled by Keras)")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="optimizer and learning rate")
    clipnorm: float | None = Field(None, gt=0, description="clip each gradient to this L2 norm")
    clipvalue: float | None = Field(None, gt=0, description="clip each gradient element to [-v, v]")
    monitor: str = Field("val_loss", description="epoch metric for early stopping and the best checkpoint "
                                                 "(the task's monitors: val_loss, val_accuracy, loss, ...)")
    early_stopping: EarlyStoppingConfig | None = Field(None, description="stop when train.monitor stops improving; "
                                                                         "null to train all epochs")
    restore_best: bool = Field(True, description="after training, restore the weights of the best epoch "
                                                 "by train.monitor")
    diagnostics: DiagnosticsConfig | None = Field(None, description="record dLoss/dh_t through time, per-layer "
                                                                    "gradient norms, clipping and gate saturation "
                                                                    "(see seqpipe.train.diagnostics); null: off")
    checkpoint_every: int | None = Field(None, ge=1, description="also write the resumable checkpoint every N "
                                                                 "batches (it is always written after every epoch)")


@register_stage
class TrainStage(Stage):
    """Keras fit on tf.data with clipping, early stopping and best-weights restore (the task builds data and loss)."""

    name = "train"
    order = 50
    requires = ("model", "encoder", "splits")
    provides = ("trained_model", "history")
    Config = TrainConfig

    cacheable = True

    def run(self, ctx):
        model, history = ctx.task.fit(ctx, self.config)
        ctx.put("trained_model", model)
        ctx.put("history", history)

    def cache_save(self, ctx, folder):
        import shutil

        shutil.copytree(ctx.run_dir / "checkpoints", folder / "checkpoints")
        shutil.copy2(ctx.run_dir / "history.csv", folder / "history.csv")

    def cache_load(self, ctx, folder):
        """The cached run's checkpoints, then training "resumes" from its completed state: nothing is fitted."""
        import json
        import shutil

        if not json.loads((folder / "checkpoints" / "last.json").read_text())["completed"]:
            raise ValueError("the cached training did not complete")
        shutil.copytree(folder / "checkpoints", ctx.run_dir / "checkpoints", dirs_exist_ok=True)
        shutil.copy2(folder / "history.csv", ctx.run_dir / "history.csv")
        resume, ctx.resume, ctx.replay_history = ctx.resume, True, True
        try:
            self.run(ctx)
        finally:
            ctx.resume, ctx.replay_history = resume, False
