"""Training state that survives a crash: written every epoch (and every N steps), read by ``--resume``.

A checkpoint is a set of three files in ``<run>/checkpoints/``: ``last-NNNNNN.weights.h5`` holds the
model's and the optimizer's variables (the learning rate and the iteration counter that step schedules
read among them), ``last-NNNNNN.rng.npz`` the dropout seed generators, and ``last.json`` where training
stands (epoch, batches done in it, the best monitored value, early-stopping and plateau counters, the
training time spent, why training stopped, the history so far) and which weights and rng files belong
to it. The set is written atomically: the two data files under new names (flushed to disk), then
``last.json`` replaced in one step, and only then the previous set deleted. A process killed at any
point leaves either the previous complete checkpoint or the new one; files of a set that never got its
``last.json`` are deleted by the next write.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import zipfile
from pathlib import Path

import keras
import numpy as np

from seqpipe.errors import SeqpipeError
from seqpipe.pipeline.signals import Interrupted, stop_requested
from seqpipe.tracking.guard import one_line

FORMAT = 2  # 1: last.weights.h5, last.rng.npz and last.json, replaced one by one (still read)
REQUIRED = ("epoch", "batch", "steps_per_epoch", "completed", "best", "early_stopping", "history")
SET_FILE = re.compile(r"last-(\d+)\.(?:weights\.h5|rng\.npz)")
OLD_FILES = ("last.weights.h5", "last.rng.npz", "last.partial.weights.h5", "last.partial.npz", "last.partial.json")


class TrainingDiverged(SeqpipeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def _seed_states(model) -> list:
    return [v for v in model.variables if "seed_generator_state" in v.path]


class TrainingState:
    """Reads and writes one run's resumable training state (see the module's docstring for the layout)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.meta = folder / "last.json"
        self._serial: int | None = None

    def exists(self) -> bool:
        return self.meta.is_file()

    def _damaged(self, path: Path, why: str) -> SeqpipeError:
        run = self.folder.parent
        return SeqpipeError(f"{path}: the training checkpoint is damaged ({why}); start a new run (without --resume), "
                            f"or delete {self.folder} and --resume {run} to train this run from the start")

    def read(self) -> dict:
        """The JSON state, with ``weights`` and ``rng``: the paths of the set's data files (checked to exist)."""
        try:
            state = json.loads(self.meta.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise self._damaged(self.meta, "not text") from None
        except json.JSONDecodeError as exc:
            where = f"{exc.msg}: line {exc.lineno} column {exc.colno}"
            raise self._damaged(self.meta, f"invalid JSON, cut short? {where}") from None
        except OSError as exc:
            raise self._damaged(self.meta, f"cannot be read: {exc.strerror or one_line(exc)}") from None
        if not isinstance(state, dict):
            raise self._damaged(self.meta, "not a JSON object")
        if state.get("format") not in (1, FORMAT):
            raise SeqpipeError(f"{self.meta}: a checkpoint of another seqpipe version (format {state.get('format')}); "
                               "start a new run")
        if state["format"] == 1:  # one fixed name per file, replaced one by one
            state["weights"], state["rng"] = "last.weights.h5", "last.rng.npz"
        missing = [key for key in REQUIRED if key not in state]
        if missing:
            raise self._damaged(self.meta, f"no {', '.join(missing)}")
        for key in ("weights", "rng"):
            path = self.folder / Path(str(state[key])).name
            if not path.is_file():
                raise self._damaged(path, f"missing; {self.meta.name} names it")
            state[key] = path
        return state

    def _next_serial(self) -> int:
        if self._serial is None:
            serials = [int(m.group(1)) for p in self.folder.glob("last-*") if (m := SET_FILE.fullmatch(p.name))]
            self._serial = max(serials, default=0)
        self._serial += 1
        return self._serial

    def save(self, model, state: dict) -> None:
        """Write a new checkpoint set, then make it the current one in one step, then delete the previous one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"last-{self._next_serial():06d}"
        weights, rng = self.folder / f"{stem}.weights.h5", self.folder / f"{stem}.rng.npz"
        model.save_weights(weights, overwrite=True)
        _fsync(weights)
        with open(rng, "wb") as handle:
            np.savez(handle, *[np.asarray(v) for v in _seed_states(model)])
            handle.flush()
            os.fsync(handle.fileno())
        text = json.dumps({"format": FORMAT, "weights": weights.name, "rng": rng.name, **state}, indent=1,
                          default=float)
        partial = self.folder / "last.json.partial"
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, self.meta)  # the commit point
        _fsync_folder(self.folder)
        for path in self.folder.iterdir():  # the previous set, sets never committed, format-1 files
            if path.name not in (weights.name, rng.name) and (SET_FILE.fullmatch(path.name) or path.name in OLD_FILES):
                path.unlink(missing_ok=True)

    def restore(self, model) -> dict:
        """Load the variables into ``model`` (compiled, so the optimizer's too); return the JSON state."""
        state = self.read()
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        try:
            model.load_weights(state["weights"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise self._damaged(state["weights"], f"cannot be loaded: {one_line(exc, 120)}") from None
        try:
            with np.load(state["rng"]) as saved:
                values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise self._damaged(state["rng"], f"cannot be loaded: {one_line(exc, 120)}") from None
        seeds = _seed_states(model)
        if len(values) != len(seeds):
            raise self._damaged(state["rng"], f"{len(values)} seed states for the model's {len(seeds)}")
        for variable, value in zip(seeds, values):
            variable.assign(value)
        return state


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


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
