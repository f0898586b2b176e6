"""Training state that survives a crash: written every epoch (and every N steps), read by ``--resume``.

``<run>/checkpoints/last.weights.h5`` holds the model's and the optimizer's variables (the
learning rate and the iteration counter that step schedules read among them), ``last.rng.npz`` the
dropout seed generators, and ``last.json`` where training stands (epoch, batches done in it, the
best monitored value, early-stopping and plateau counters, the training time spent, why training
stopped, the history so far). Each file is replaced atomically, the JSON last, so a checkpoint
interrupted half-way is never read.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import keras
import numpy as np

from seqpipe.errors import SeqpipeError
from seqpipe.pipeline.signals import Interrupted, stop_requested

FORMAT = 1


class TrainingDiverged(SeqpipeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def _seed_states(model) -> list:
    return [v for v in model.variables if "seed_generator_state" in v.path]


class TrainingState:
    """Reads and writes one run's resumable training state."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.weights, self.rng, self.meta = folder / "last.weights.h5", folder / "last.rng.npz", folder / "last.json"

    def exists(self) -> bool:
        return self.meta.is_file() and self.weights.is_file()

    def read(self) -> dict:
        state = json.loads(self.meta.read_text(encoding="utf-8"))
        if state.get("format") != FORMAT:
            raise SeqpipeError(f"{self.meta}: a checkpoint of another seqpipe version (format {state.get('format')}); "
                               "start a new run")
        return state

    def save(self, model, state: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / "last.partial.weights.h5"
        model.save_weights(partial, overwrite=True)
        os.replace(partial, self.weights)
        with open(self.folder / "last.partial.npz", "wb") as handle:
            np.savez(handle, *[np.asarray(v) for v in _seed_states(model)])
        os.replace(self.folder / "last.partial.npz", self.rng)
        text = json.dumps({"format": FORMAT, **state}, indent=1, default=float)
        (self.folder / "last.partial.json").write_text(text, encoding="utf-8")
        os.replace(self.folder / "last.partial.json", self.meta)

    def restore(self, model) -> dict:
        """Load the variables into ``model`` (compiled, so the optimizer's too); return the JSON state."""
        state = self.read()
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(self.weights)
        with np.load(self.rng) as saved:
            values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        for variable, value in zip(_seed_states(model), values):
            variable.assign(value)
        return state


class StopOnNonFinite(keras.callbacks.Callback):
    """Raise :class:`TrainingDiverged` (naming the epoch and step) as soon as the loss is NaN or infinite."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def _check(self, logs, where: str):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(f"training diverged at {where}: the loss is {float(loss)}; the last good checkpoint "
                                   "is kept in checkpoints/; lower train.optimizer.learning_rate or set train.clipnorm")

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, f"epoch {self.epoch + 1}, step {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, f"the end of epoch {epoch + 1}")
        val = (logs or {}).get("val_loss")
        if val is not None and not math.isfinite(float(val)):
            raise TrainingDiverged(f"training diverged at the end of epoch {epoch + 1}: the validation loss is "
                                   f"{float(val)}; lower train.optimizer.learning_rate or set train.clipnorm")


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras EarlyStopping whose counters carry over from a checkpoint and from one ``fit`` call to the next
    (a resumed run finishes its interrupted epoch with one call, then trains the rest with another)."""

    restored: dict | None = None
    _started = False

    def on_train_begin(self, logs=None):
        carried = self.restored if self.restored is not None else (self.snapshot() if self._started else None)
        super().on_train_begin(logs)
        if carried:
            self.wait, self.best_epoch = int(carried["wait"]), int(carried["best_epoch"])
            self.best = float(carried["best"]) if carried["best"] is not None else self.best
        self.restored, self._started = None, True

    @property
    def stopped(self) -> bool:
        """Whether it stopped training (Keras marks that with the epoch, from the second epoch on)."""
        return self.stopped_epoch > 0

    def snapshot(self) -> dict:
        best = self.best if self.best is not None and math.isfinite(float(self.best)) else None
        return {"wait": int(self.wait), "best": best, "best_epoch": int(self.best_epoch)}


class TrainingClock(keras.callbacks.Callback):
    """Count the time spent in training steps; with ``max_seconds``, stop after the batch that spends them.

    Only the steps count, from each batch's start to its end (the hand-over of the prefetched batch
    included): not the data preparation before training, validation, the other callbacks' epoch ends
    or checkpoint writing, and not the first step of each ``fit`` call, which traces and compiles the
    training graph (seconds, whatever the model). ``seconds`` starts from what earlier sessions of the
    run spent (the checkpoint's ``train_seconds``). Keras ends the epoch after the stopping batch
    (validation and epoch-end callbacks run), then ``fit`` returns.
    """

    clock = staticmethod(time.perf_counter)

    def __init__(self, seconds: float = 0.0, max_seconds: float | None = None):
        super().__init__()
        self.seconds, self.max_seconds = float(seconds), max_seconds
        self.started: float | None = None
        self.tracing = True
        self.stopped = False
        self.spent = None  # a variable for the share of max_seconds spent (a schedule decaying to the budget)

    def publish(self):
        if self.spent is not None:
            self.spent.assign(min(self.seconds / self.max_seconds, 1.0))

    def on_train_begin(self, logs=None):
        self.tracing = True
        self.publish()

    def on_train_batch_begin(self, batch, logs=None):
        self.started = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        if self.started is not None and not self.tracing:
            self.seconds += self.clock() - self.started
        self.started, self.tracing = None, False
        self.publish()
        if self.max_seconds is not None and self.seconds >= self.max_seconds and not self.stopped:
            self.stopped = True
            self.model.stop_training = True


class Checkpointer(keras.callbacks.Callback):
    """Write the resumable state every epoch (and every ``every_steps`` batches); stop cleanly when asked.

    It must run after the checkpoint, early-stopping, plateau and clock callbacks, so their state is recorded.
    """

    def __init__(self, state: TrainingState, steps_per_epoch: int, every_steps: int | None,
                 best: keras.callbacks.Callback, early: ResumableEarlyStopping | None, history: dict,
                 epoch: int = 0, batch: int = 0, plateau=None, clock: TrainingClock | None = None):
        super().__init__()
        self.state, self.steps, self.every = state, steps_per_epoch, every_steps
        self.best, self.early, self.history = best, early, history
        self.plateau, self.clock = plateau, clock
        self.epoch, self.batch = epoch, batch  # position: batches done in epoch
        self.last_epoch_batches = steps_per_epoch  # batches the last finished epoch ran (fewer when stopped early)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch != self.epoch:
            self.epoch, self.batch = epoch, 0

    def snapshot(self, completed: bool = False, stopped_by: str | None = None) -> dict:
        best = getattr(self.best, "best", None)
        return {"epoch": self.epoch, "batch": self.batch, "steps_per_epoch": self.steps, "completed": completed,
                "stopped_early": stopped_by == "early_stopping", "stopped_by": stopped_by,
                "last_epoch_batches": self.last_epoch_batches,
                "train_seconds": self.clock.seconds if self.clock is not None else None,
                "best": float(best) if best is not None and math.isfinite(float(best)) else None,
                "early_stopping": self.early.snapshot() if self.early is not None else None,
                "reduce_on_plateau": self.plateau.snapshot() if self.plateau is not None else None,
                "history": self.history}

    def on_train_batch_end(self, batch, logs=None):
        self.batch += 1
        within = self.steps is None or self.batch < self.steps  # None: a stream's first pass, length not known yet
        if self.every and self.batch % self.every == 0 and within:
            self.state.save(self.model, self.snapshot())
        if stop_requested() and within:
            self.state.save(self.model, self.snapshot())
            raise Interrupted(stop_requested())

    def complete(self, stopped_by: str) -> None:
        """Training ended normally (``stopped_by``: epochs, early_stopping or max_minutes): a resume has nothing
        left to fit, unless train.epochs or train.max_minutes has grown."""
        self.state.save(self.model, self.snapshot(completed=True, stopped_by=stopped_by))

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if self.steps is None and not self.model.stop_training:  # a stream's first whole pass: its length
            self.steps = self.batch
        self.epoch, self.batch, self.last_epoch_batches = epoch + 1, 0, self.batch
        self.state.save(self.model, self.snapshot())
        if stop_requested():
            raise Interrupted(stop_requested())
