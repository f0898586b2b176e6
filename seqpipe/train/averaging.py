"""Checkpoint averaging (``train.average_last``): the element-wise mean of the weights at the end of N epochs.

Averaging the parameters of the last few checkpoints (Vaswani et al. 2017; Junczys-Dowmunt et al. 2016)
gives a model that is usually better than any one of them. The weights at the end of every epoch that
may still be averaged are kept as ``checkpoints/epochs/epoch_NNNN.npz``; the window is the N epochs
ending at the best epoch by ``train.monitor`` with ``restore_best``, else the last N. Only the model's
floating-point weights are averaged (not the optimizer's slots, not the dropout seed states).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np


def averaged_variables(model) -> list:
    """The model's weights that averaging touches: floating-point, not dropout seed generator states."""
    return [v for v in model.weights
            if "seed_generator_state" not in v.path and np.issubdtype(np.dtype(v.dtype), np.floating)]


def best_epoch(values: list[float], mode: str) -> int | None:
    """The 1-based epoch of the best value (the first one on ties, as ModelCheckpoint keeps it); None if none."""
    if not values:
        return None
    return int(np.argmin(values) if mode == "min" else np.argmax(values)) + 1


def window(epochs_done: int, n: int, best: int | None = None) -> list[int]:
    """The 1-based epochs to average: the ``n`` ending at ``best`` when given, else the last ``n``."""
    end = best if best is not None else epochs_done
    return list(range(max(1, end - n + 1), end + 1))


def epoch_file(folder: Path, epoch: int) -> Path:
    return folder / f"epoch_{epoch:04d}.npz"


def save_weights(model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.npz")
    with open(partial, "wb") as handle:
        np.savez(handle, *[keras.ops.convert_to_numpy(v) for v in averaged_variables(model)])
    os.replace(partial, path)


def load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def mean_arrays(files: list[Path]) -> list[np.ndarray]:
    """The element-wise mean, in float64, of the weights saved in ``files`` (one list of arrays each)."""
    total = None
    for path in files:
        arrays = load_arrays(path)
        total = ([a.astype(np.float64) for a in arrays] if total is None
                 else [t + a.astype(np.float64) for t, a in zip(total, arrays)])
    return [t / len(files) for t in total]


def average_into(model, files: list[Path]) -> None:
    """Set the model's averaged weights to the mean of those saved in ``files``."""
    variables = averaged_variables(model)
    means = mean_arrays(files)
    if len(means) != len(variables):
        raise ValueError(f"{files[0]} holds {len(means)} arrays; the model has {len(variables)} weights to average")
    for variable, value in zip(variables, means):
        variable.assign(value.astype(np.dtype(variable.dtype)))


class EpochWeights(keras.callbacks.Callback):
    """Keep the weights at the end of every epoch that a later average may use; drop the others.

    The kept epochs are the last ``n`` and, with ``around_best``, the ``n`` ending at the best epoch so far
    (by ``monitor`` in ``history`` plus this epoch's logs). It runs before the checkpoint writer, so a
    checkpoint never names an epoch whose weights are not on disk.
    """

    def __init__(self, folder: Path, n: int, monitor: str, mode: str, around_best: bool, history: dict):
        super().__init__()
        self.folder, self.n, self.monitor, self.mode = folder, n, monitor, mode
        self.around_best, self.history = around_best, history

    def on_epoch_end(self, epoch, logs=None):
        save_weights(self.model, epoch_file(self.folder, epoch + 1))
        values = list(self.history.get(self.monitor, []))
        if (logs or {}).get(self.monitor) is not None:
            values.append(float(logs[self.monitor]))
        keep = set(window(epoch + 1, self.n))
        if self.around_best:
            keep |= set(window(epoch + 1, self.n, best_epoch(values, self.mode)))
        for path in self.folder.glob("epoch_*.npz"):
            stem = path.stem.removeprefix("epoch_")
            if stem.isdigit() and int(stem) not in keep:
                path.unlink(missing_ok=True)
