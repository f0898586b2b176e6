"""Run seqpipe's CLI, or a hand-written script, with a step clock inside every ``keras.Model.fit``.

``python -m bench._probe OUT.json [--stop-after N] [--exit-after-epochs E] [--count-tokens] -- seqpipe run ...``
``python -m bench._probe OUT.json -- script TASK WORKDIR``  (bench/_handwritten.py)

The probe adds one Keras callback to every ``fit`` call (``keras.Model.fit`` is wrapped before the
program runs; nothing in seqpipe is changed) that records the wall-clock time (``time.time()``) at the
end of the first training step and ``perf_counter`` at the end of every training step, per epoch, and
writes them to OUT.json when the process ends, with the process's resident set (VmRSS) and its peak so
far (VmHWM) at the first step and at the end. With ``--stop-after N`` the process writes OUT.json and
exits right after its N-th training step or the last training step of the first epoch, whichever comes
first (before that epoch's validation); with ``--exit-after-epochs E`` right after its E-th epoch
(validation included): for measurements that need only the start of training. With ``--count-tokens`` each
model's ``train_step`` is wrapped to add up the non-zero (non-padding) ids of its targets in a variable, and
OUT.json's ``tokens`` holds that running total at the end of every training step (a count and an add per step).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class Record:
    def __init__(self, path: str, stop_after: int | None, exit_after_epochs: int | None = None,
                 count_tokens: bool = False):
        self.path, self.stop_after, self.exit_after_epochs = path, stop_after, exit_after_epochs
        self.count_tokens = count_tokens
        self.tokens: list[int] = []  # with count_tokens: target tokens trained on so far, at the end of each step
        self.memory_at_first_step: dict[str, float] = {}
        self.first_step_wall = None
        self.epochs: list[list[float]] = []  # per epoch: perf_counter at the end of each training step
        self.steps_per_epoch: list[int | None] = []
        self.fit_calls = 0
        self.steps = 0
        self.train_seconds = 0.0  # inside fit, evaluation passes excluded
        self.written = False

    def write(self, status: str) -> None:
        if self.written:
            return
        self.written = True
        data = {"status": status, "first_step_wall": self.first_step_wall, "epochs": self.epochs,
                "steps_per_epoch": self.steps_per_epoch, "fit_calls": self.fit_calls, "steps": self.steps,
                "tokens": self.tokens,
                "exit_wall": time.time(), "memory_at_first_step": self.memory_at_first_step,
                "memory_at_exit": memory()}
        with open(self.path, "w", encoding="utf-8") as handle:
            json.dump(data, handle)


def memory() -> dict[str, float]:
    """VmRSS and VmHWM (peak) of this process, in MiB."""
    out = {}
    try:
        with open("/proc/self/status", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def leave(record: Record, status: str) -> None:
    record.write(status)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def install(record: Record) -> None:
    import keras  # seqpipe imports it too, with tensorflow_text on top; the hand-written scripts need Keras only

    counter = None
    if record.count_tokens:
        import tensorflow as tf

        counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="bench_target_tokens")

    def count_tokens(model) -> None:
        """Wrap ``model.train_step`` (once) to add the non-zero ids of each batch's targets to ``counter``."""
        if counter is None or model.__dict__.get("_bench_counts_tokens"):
            return
        import tensorflow as tf

        step = model.train_step

        def train_step(data):
            _, y, _ = keras.utils.unpack_x_y_sample_weight(data)
            for t in tf.nest.flatten(y):
                counter.assign_add(tf.math.count_nonzero(t, dtype=tf.int64))
            return step(data)

        object.__setattr__(model, "train_step", train_step)  # around Keras's attribute tracking
        object.__setattr__(model, "_bench_counts_tokens", True)

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            record.fit_calls += 1

        def on_epoch_begin(self, epoch, logs=None):
            record.epochs.append([])
            record.steps_per_epoch.append((self.params or {}).get("steps"))

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            if record.first_step_wall is None:
                record.first_step_wall = time.time()
                record.memory_at_first_step = memory()
            if not record.epochs:
                record.epochs.append([])
            record.epochs[-1].append(now)
            record.steps += 1
            if counter is not None:
                record.tokens.append(int(counter.numpy()))
            if record.stop_after and (record.steps >= record.stop_after
                                       or len(record.epochs[0]) == record.steps_per_epoch[0]):
                leave(record, "stopped")

        def on_epoch_end(self, epoch, logs=None):
            if record.exit_after_epochs and len(record.epochs) >= record.exit_after_epochs:
                leave(record, "stopped")

    original = keras.Model.fit

    def fit(self, *args, callbacks=None, **kwargs):
        count_tokens(self)
        return original(self, *args, callbacks=[*(callbacks or []), StepClock()], **kwargs)

    keras.Model.fit = fit


def main() -> int:
    args = sys.argv[1:]
    split = args.index("--")
    options, program = args[:split], args[split + 1:]
    out = options[0]
    def option(name):
        return int(options[options.index(name) + 1]) if name in options else None

    record = Record(out, option("--stop-after"), option("--exit-after-epochs"), "--count-tokens" in options)
    atexit.register(record.write, "exited")
    install(record)
    if program[0] == "seqpipe":
        from seqpipe.cli import main as cli

        code = cli(program[1:])
    elif program[0] == "script":
        from bench._handwritten import main as script

        code = script(program[1:])
    else:
        raise SystemExit(f"unknown program {program[0]!r}")
    record.write("finished" if not code else f"exit {code}")
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
