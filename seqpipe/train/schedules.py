"""Learning-rate schedules of ``train.optimizer.schedule``.

The step-based kinds are Keras ``LearningRateSchedule`` objects (serialisable, ``get_config``): the rate
of an update is a function of the optimizer's iteration counter, which is one of the optimizer's
variables, so a resumed run continues the schedule exactly where the checkpoint left it. Writing
``s`` for the 1-based number of the update, ``w`` for ``warmup_steps``, ``T`` for the training's total
steps and ``m`` for ``min_lr``, the rate is ``learning_rate x min(s / w, 1) x decay(s)`` with

- ``constant``: ``decay = 1``
- ``warmup_inverse_sqrt``: ``decay = sqrt(w / max(s, w))`` (``w`` taken as 1 when it is 0)
- ``warmup_cosine``: ``decay = m + (1 - m) (1 + cos(pi p)) / 2`` with ``p = clip((s - w) / (T - w), 0, 1)``
- ``warmup_linear``: ``decay = 1 - (1 - m) p``

With a training-time budget (``train.max_minutes``) the decaying kinds take ``p`` as the larger of the
above and the share of the budget spent so far (training seconds / budget, counted by the training
clock), so the decay ends at the budget when the budget runs out before ``T`` steps (the budget share
counts from the first step, the warmup included). That part follows the clock, so it is not
reproduced bit for bit by a rerun.

``reduce_on_plateau`` is a callback (:class:`ResumablePlateau`) that cuts the optimizer's rate variable;
its counters go into the checkpoint like early stopping's.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from seqpipe.errors import SeqpipeError

STEP_KINDS = ("constant", "warmup_inverse_sqrt", "warmup_cosine", "warmup_linear")
NEEDS_TOTAL = ("warmup_cosine", "warmup_linear")


class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup over ``warmup_steps``, then :meth:`decay` (1 here: a constant rate)."""

    kind = "constant"
    budget = None  # a variable holding the share of train.max_minutes spent (bind_budget), or None

    def __init__(self, learning_rate: float, warmup_steps: int = 0, total_steps: int | None = None,
                 min_lr: float = 0.0):
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = None if total_steps is None else int(total_steps)
        self.min_lr = float(min_lr)

    def __call__(self, step):
        s = ops.cast(step, "float32") + 1.0  # the 1-based number of the update this rate is for
        factor = ops.minimum(s / float(self.warmup_steps), 1.0) if self.warmup_steps else ops.ones_like(s)
        return self.learning_rate * factor * self.decay(s)

    def decay(self, s):
        return ops.ones_like(s)

    def progress(self, s):
        """``(s - w) / (T - w)`` clipped to [0, 1]: how far the decay after the warmup has gone."""
        if self.total_steps is None:
            raise ValueError(f"the {self.kind} schedule needs total_steps (fit_model sets them)")
        span = max(self.total_steps - self.warmup_steps, 1)
        steps = ops.clip((s - float(self.warmup_steps)) / float(span), 0.0, 1.0)
        return steps if self.budget is None else ops.maximum(steps, ops.convert_to_tensor(self.budget))

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "min_lr": self.min_lr}


@keras.saving.register_keras_serializable(package="seqpipe")
class WarmupConstant(WarmupSchedule):
    """``learning_rate`` after a linear warmup."""


@keras.saving.register_keras_serializable(package="seqpipe")
class WarmupInverseSqrt(WarmupSchedule):
    """Linear warmup, then ``learning_rate x sqrt(warmup_steps / step)``."""

    kind = "warmup_inverse_sqrt"

    def decay(self, s):
        w = float(max(self.warmup_steps, 1))
        return ops.sqrt(w / ops.maximum(s, w))


@keras.saving.register_keras_serializable(package="seqpipe")
class WarmupCosine(WarmupSchedule):
    """Linear warmup, then a half cosine down to ``min_lr x learning_rate`` at ``total_steps``."""

    kind = "warmup_cosine"

    def decay(self, s):
        return self.min_lr + (1.0 - self.min_lr) * 0.5 * (1.0 + ops.cos(math.pi * self.progress(s)))


@keras.saving.register_keras_serializable(package="seqpipe")
class WarmupLinear(WarmupSchedule):
    """Linear warmup, then a straight line down to ``min_lr x learning_rate`` at ``total_steps``."""

    kind = "warmup_linear"

    def decay(self, s):
        return 1.0 - (1.0 - self.min_lr) * self.progress(s)


SCHEDULES = {cls.kind: cls for cls in (WarmupConstant, WarmupInverseSqrt, WarmupCosine, WarmupLinear)}


def step_schedule(learning_rate: float, cfg, total_steps: int | None = None) -> WarmupSchedule:
    """The schedule object of a step-based ``train.optimizer.schedule`` config."""
    return SCHEDULES[cfg.kind](learning_rate, cfg.warmup_steps, total_steps, getattr(cfg, "min_lr", 0.0))


def schedule_of(optimizer) -> WarmupSchedule | None:
    """The optimizer's step schedule, if it has one of ours (under a mixed_float16 loss-scale wrapper too)."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    schedule = getattr(optimizer, "_learning_rate", None)  # Keras keeps the schedule object there
    return schedule if isinstance(schedule, WarmupSchedule) else None


def bind_total_steps(optimizer, epochs: int, steps_per_epoch: int, log) -> None:
    """Give a decaying schedule the training's length (``epochs x steps_per_epoch``); refuse a warmup that fills it."""
    schedule = schedule_of(optimizer)
    if schedule is None:
        return
    total = epochs * steps_per_epoch
    if schedule.kind in NEEDS_TOTAL:
        if schedule.total_steps is not None and schedule.total_steps != total:
            log.info("learning-rate schedule: %d training steps now (was %d): the %s decay is stretched from here on",
                     total, schedule.total_steps, schedule.kind)
        if schedule.warmup_steps >= total:
            raise SeqpipeError(f"train.optimizer.schedule.warmup_steps ({schedule.warmup_steps}) leaves nothing to "
                               f"decay: training has {total} steps ({epochs} epochs x {steps_per_epoch} batches); "
                               "lower warmup_steps or train longer")
        schedule.total_steps = total
    elif schedule.warmup_steps > total:
        log.warning("learning-rate schedule: warmup_steps %d is more than the %d training steps; the rate never "
                    "reaches train.optimizer.learning_rate", schedule.warmup_steps, total)


def bind_budget(optimizer, clock) -> None:
    """With ``train.max_minutes``, let a decaying schedule also follow the share of the budget spent: the
    training clock (:class:`seqpipe.train.checkpoints.TrainingClock`) writes it into a variable the schedule
    reads in the training step."""
    schedule = schedule_of(optimizer)
    if schedule is None or schedule.kind not in NEEDS_TOTAL or clock.max_seconds is None:
        return
    if schedule.budget is None:
        schedule.budget = keras.Variable(0.0, trainable=False, dtype="float32", name="budget_spent")
    clock.spent = schedule.budget


class LearningRateLog(keras.callbacks.Callback):
    """Add ``learning_rate`` (the rate of the epoch's last update) to every epoch's logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)
        schedule = schedule_of(optimizer)
        if schedule is not None:
            step = max(int(keras.ops.convert_to_numpy(optimizer.iterations)) - 1, 0)
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(schedule(step)))
        else:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class ResumablePlateau(keras.callbacks.ReduceLROnPlateau):
    """Keras ReduceLROnPlateau whose counters carry over from a checkpoint and from one ``fit`` call to the next.

    The rate itself is an optimizer variable, saved with the optimizer. It adds ``learning_rate``
    (the rate the epoch trained with) to the logs, and logs every cut to ``log``.
    """

    restored: dict | None = None
    _started = False

    def __init__(self, *args, log=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.log = log

    def on_train_begin(self, logs=None):
        carried = self.restored if self.restored is not None else (self.snapshot() if self._started else None)
        super().on_train_begin(logs)
        if carried:
            self.wait, self.cooldown_counter = int(carried["wait"]), int(carried["cooldown_counter"])
            self.best = float(carried["best"]) if carried["best"] is not None else None
        self.restored, self._started = None, True

    def snapshot(self) -> dict:
        best = self.best if self.best is not None and math.isfinite(float(self.best)) else None
        return {"wait": int(self.wait), "best": None if best is None else float(best),
                "cooldown_counter": int(self.cooldown_counter)}

    def _reduce_optimizer_lr(self, optimizer, epoch, name=""):
        reduced = super()._reduce_optimizer_lr(optimizer, epoch, name)
        if reduced and self.log is not None:
            self.log.info("epoch %d: %s has not improved for %d epoch(s); learning rate cut to %.3g", epoch + 1,
                          self.monitor, self.patience, float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
        return reduced
