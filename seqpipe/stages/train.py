"""Fit the model with Keras on tf.data, with early stopping and best-checkpoint restore."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field, model_validator

from seqpipe.pipeline.stage import Stage, register_stage
from seqpipe.schema import Schema

WARMUP = ("optimizer steps over which the learning rate rises linearly to learning_rate (step s of the warmup "
          "uses learning_rate x s / warmup_steps); 0: no warmup")
MIN_LR = ("the learning rate at the last step (train.epochs x batches per epoch, counted when training starts) or at "
          "the end of train.max_minutes, whichever comes first, as a fraction of learning_rate")


class ConstantSchedule(Schema):
    """learning_rate at every step, after an optional linear warmup."""

    kind: Literal["constant"] = Field("constant", description="learning-rate schedule")
    warmup_steps: int = Field(0, ge=0, description=WARMUP)


class InverseSqrtSchedule(Schema):
    """Linear warmup, then learning_rate x sqrt(warmup_steps / step) (Vaswani et al. 2017)."""

    kind: Literal["warmup_inverse_sqrt"] = Field("warmup_inverse_sqrt", description="learning-rate schedule")
    warmup_steps: int = Field(0, ge=0, description=WARMUP + " (the decay is then learning_rate / sqrt(step) from the "
                                                           "first step)")


class CosineSchedule(Schema):
    """Linear warmup, then a half cosine from learning_rate down to min_lr x learning_rate at the last step."""

    kind: Literal["warmup_cosine"] = Field("warmup_cosine", description="learning-rate schedule")
    over_total_steps: ClassVar[bool] = True  # decays over the training's total steps
    warmup_steps: int = Field(0, ge=0, description=WARMUP)
    min_lr: float = Field(0.0, ge=0, le=1, description=MIN_LR)


class LinearSchedule(Schema):
    """Linear warmup, then a straight line from learning_rate down to min_lr x learning_rate at the last step."""

    kind: Literal["warmup_linear"] = Field("warmup_linear", description="learning-rate schedule")
    over_total_steps: ClassVar[bool] = True  # decays over the training's total steps
    warmup_steps: int = Field(0, ge=0, description=WARMUP)
    min_lr: float = Field(0.0, ge=0, le=1, description=MIN_LR)


class PlateauSchedule(Schema):
    """Multiply the learning rate by factor when train.monitor stops improving (checked after every epoch)."""

    kind: Literal["reduce_on_plateau"] = Field("reduce_on_plateau", description="learning-rate schedule")
    factor: float = Field(0.5, gt=0, lt=1, description="the learning rate is multiplied by this at every cut")
    patience: int = Field(2, ge=1, description="epochs without improvement of train.monitor before a cut")
    min_delta: float = Field(0.0, ge=0, description="smallest change of train.monitor that counts as an improvement")
    min_lr: float = Field(0.0, ge=0, le=1, description="the learning rate is never cut below this fraction of "
                                                       "learning_rate")


ScheduleConfig = Annotated[Union[ConstantSchedule, InverseSqrtSchedule, CosineSchedule, LinearSchedule,
                                 PlateauSchedule], Field(discriminator="kind")]
"""Any learning-rate schedule's config, chosen by its ``kind`` key."""


class OptimizerConfig(Schema):
    name: Literal["adam", "adamw", "nadam", "rmsprop", "sgd"] = Field("adam", description="Keras optimizer")
    learning_rate: float = Field(1e-3, gt=0, description="learning rate (the peak rate when a schedule is set)")
    weight_decay: float | None = Field(None, ge=0, description="decoupled weight decay (adamw; others apply it too)")
    momentum: float = Field(0.0, ge=0, lt=1, description="sgd/rmsprop momentum")
    schedule: ScheduleConfig | None = Field(
        None, description="learning-rate schedule: {kind: KIND, ...} with KIND one of constant, warmup_inverse_sqrt, "
                          "warmup_cosine, warmup_linear (per step, after a linear warmup) or reduce_on_plateau (per "
                          "epoch, on train.monitor); the rate is then logged every epoch (learning_rate: the epoch's "
                          "last step's); null: learning_rate throughout, not logged")


class EarlyStoppingConfig(Schema):
    patience: int = Field(2, ge=0, description="epochs without improvement of train.monitor before stopping")
    min_delta: float = Field(0.0, ge=0, description="smallest change that counts as an improvement")


class DiagnosticsConfig(Schema):
    every: int = Field(50, ge=1, description="record every N training steps, on one fixed batch")


class TrainConfig(Schema):
    epochs: int = Field(5, ge=1, description="passes over the training split")
    batch_size: int = Field(64, ge=1, description="examples per batch (per replica count is handled by Keras)")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="optimizer and learning rate")
    clipnorm: float | None = Field(None, gt=0, description="bound on the gradient's L2 norm: when the norm of all "
                                                           "the gradients together is above it, they are all scaled "
                                                           "down to it (train.clip_scope: per_variable bounds each "
                                                           "variable's gradient on its own instead)")
    clip_scope: Literal["global", "per_variable"] | None = Field(
        None, description="how train.clipnorm is applied: global (null means global) scales all gradients by "
                          "min(1, clipnorm / their joint L2 norm); per_variable scales each variable's gradient by "
                          "min(1, clipnorm / its own norm). Needs train.clipnorm")
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
    batch_tokens: int | None = Field(
        None, ge=1, description="token-budget batches: the training examples are sorted by length (ties in the "
                                "epoch's seeded order) and cut into batches of as many examples as fit in this many "
                                "padded tokens (longest in the batch x rows), served in a seeded order per epoch; "
                                "train.batch_size then sizes only the validation batches. Translation counts "
                                "target tokens. Needs bucketing: true; null: batch_size examples per batch")
    average_last: int | None = Field(
        None, ge=0, description="after training, set the weights to the element-wise mean of those at the end of N "
                                "epochs: the N ending at the best epoch by train.monitor with restore_best: true, "
                                "the last N otherwise (a stop by max_minutes ends an epoch early; that epoch "
                                "counts); step checkpoints (checkpoint_every) are never averaged. The averaged model "
                                "is the one evaluated and exported; 0 or null: off")
    max_minutes: float | None = Field(
        None, gt=0, description="training-time budget: after the batch that spends it, the epoch ends early (it is "
                                "validated and logged), a checkpoint is written and training counts as complete "
                                "(the run evaluates and exports). Counts the time of the training steps only, summed "
                                "over resumes: not the data preparation, validation, checkpoint writing, nor the "
                                "step that compiles the graph when training (re)starts. --resume trains further only "
                                "when max_minutes (or epochs) has grown. A warmup_cosine or warmup_linear "
                                "schedule decays by whichever runs out first: the steps of train.epochs or this "
                                "budget. null: no budget")

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.average_last == 1:
            raise ValueError("average_last: 1 averages a single epoch; give 2 or more (0 or null: off)")
        if self.average_last and self.average_last > self.epochs:
            raise ValueError(f"average_last ({self.average_last}) must not exceed epochs ({self.epochs})")
        if self.batch_tokens is not None and getattr(self, "bucketing", True) is False:
            raise ValueError("batch_tokens sorts the examples by length into its batches; it needs bucketing: true; "
                             "got bucketing: false")
        return self


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
        model, history = ctx.task.runtime.fit(ctx, self.config)
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
