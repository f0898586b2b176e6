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


class TrainConfig(Schema):
    epochs: int = Field(5, ge=1, description="passes over the training split")
    batch_size: int = Field(64, ge=1, description="examples per batch (per replica count is handled by Keras)")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="optimizer and learning rate")
    clipnorm: float | None = Field(None, gt=0, description="clip each gradient to this L2 norm")
    clipvalue: float | None = Field(None, gt=0, description="clip each gradient element to [-v, v]")
    monitor: str = Field("val_loss", description="epoch metric for early stopping and the best checkpoint (val_loss, val_accuracy, loss, ...)")
    early_stopping: EarlyStoppingConfig | None = Field(None, description="stop when train.monitor stops improving; null to train all epochs")
    restore_best: bool = Field(True, description="after training, restore the weights of the best epoch by train.monitor")
    bucketing: bool = Field(True, description="batch examples of similar length together (less padding)")
    window: int = Field(100, ge=2, description="language_model: tokens per training window (truncated backpropagation through time)")
    stateful: bool = Field(False, description="language_model: split the stream into batch_size parallel streams and carry each one's "
                                              "state across consecutive windows (longer context, no window shuffling); false: every window starts from a zero state")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="translation: label smoothing of the token cross-entropy")
    validation_subset: int = Field(200, ge=0, description="translation: validation sentences decoded after every epoch for val_bleu (with stages.generate's decoding); 0 turns it off")


@register_stage
class TrainStage(Stage):
    """Keras fit on tf.data with length bucketing, clipping, early stopping and best-weights restore."""

    name = "train"
    order = 50
    requires = ("model", "encoder", "splits")
    provides = ("trained_model", "history")
    Config = TrainConfig

    def run(self, ctx):
        from seqpipe.train.fit import fit_classifier, fit_language_model, fit_seq2seq, fit_tagger

        fit = {"translation": fit_seq2seq, "language_model": fit_language_model,
               "tagging": fit_tagger}.get(ctx.config.task, fit_classifier)
        model, history = fit(ctx, self.config)
        ctx.put("trained_model", model)
        ctx.put("history", history)
