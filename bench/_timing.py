"""Timing helpers shared by the benchmarks."""

import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of every epoch of one ``fit`` call, in ``times``."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.t0)
