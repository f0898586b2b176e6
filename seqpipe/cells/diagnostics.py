"""Pictures of what a cell does over one sequence, for cells that can tell (no TensorFlow at import).

A Keras step cell may define ``trace(sequence) -> {name: array (time, rows)}``: it runs itself over one sequence
``(time, features)`` from its initial state and returns named per-step arrays, e.g. the NTM's read and write
weightings over its memory rows (:meth:`seqpipe.cells.keras_cells.ntm.NTMCell.trace`). After scoring, the evaluate
stage calls :func:`plot_cell_traces`, which draws them as heatmaps (the figure of Graves et al. 2014) for one
held-out example about twice as long as the longest training example, and logs the PNG. Models without such a
cell are left alone; the stage never names a cell kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TRACE_METHOD = "trace"
LENGTH_FACTOR = 2  # the example is the held-out one nearest to this many times the longest training example


def traced_cells(model) -> list[tuple[str, Any, Any]]:
    """``(layer name, layer, step cell)`` of every recurrent layer of ``model`` whose cell has a ``trace`` method
    (the forward direction of a bidirectional layer)."""
    import keras

    found = []
    for layer in getattr(model, "layers", []):
        rnn = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
        cell = getattr(rnn, "cell", None) if isinstance(rnn, keras.layers.RNN) else None
        if cell is not None and callable(getattr(cell, TRACE_METHOD, None)):
            found.append((layer.name, layer, cell))
    return found


def pick_example(texts: list[str], train_texts: list[str]) -> int | None:
    """The index of the text whose token count is nearest to twice the longest training text's (first on ties)."""
    if not texts:
        return None
    target = LENGTH_FACTOR * max((len(t.split()) for t in train_texts), default=1)
    return min(range(len(texts)), key=lambda i: abs(len(texts[i].split()) - target))


def plot_cell_traces(ctx, splits: list[str]) -> list[Path]:
    """Heatmaps of every traced cell of the trained model on one example of the first non-empty split of ``splits``;
    written to ``evaluation/<split>_cell_trace_<layer>.png`` and logged. Only models whose one input is token ids
    (``ctx["encoder"]`` tokenizes the text) are traced; others are skipped with a log line."""
    model = ctx.get("trained_model")
    cells = traced_cells(model) if model is not None else []
    if not cells:
        return []
    if len(model.inputs) != 1 or ctx.get("encoder") is None:
        ctx.log.info("evaluate: cell traces skipped (they need a model whose one input is the token ids)")
        return []
    column = ctx.task.roles[0]
    for split in splits:
        frame = ctx["splits"].get(split)
        if frame is not None and len(frame):
            break
    else:
        return []
    texts = frame[column].astype(str).tolist()
    index = pick_example(texts, ctx["splits"]["train"][column].astype(str).tolist())
    import keras
    import tensorflow as tf

    text = texts[index]
    ids = ctx["encoder"].tokenize(tf.constant([text]), truncate=False).to_tensor()
    written = []
    for name, layer, cell in cells:
        sequence = keras.Model(model.inputs, layer.input)(ids)
        if isinstance(sequence, (list, tuple)):  # the layer's input and its mask
            sequence = sequence[0]
        traces = cell.trace(keras.ops.convert_to_numpy(sequence)[0])
        path = ctx.path("evaluation", f"{split}_cell_trace_{name}.png")
        plot_traces(traces, text.split(), path, f"{ctx.config.name}: {name} on {split} example {index + 1} "
                                                f"({len(text.split())} steps)")
        ctx.tracker.log_artifact(path, "evaluation")
        written.append(path)
        ctx.log.info("evaluate: %s's trace on %s example %d written to %s", name, split, index + 1, path)
    return written


def plot_traces(traces: dict, tokens: list[str], path: Path, title: str) -> Path:
    """One heatmap per trace (rows: the trace's rows, e.g. memory locations; columns: time steps), the rows cropped
    to those any trace visits (weight > 0.01) plus a margin."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arrays = {name: np.asarray(values, dtype="float32") for name, values in traces.items()}
    visited = [np.nonzero(a.max(axis=0) > 0.01)[0] for a in arrays.values() if a.size]
    top = max([int(v.max()) for v in visited if v.size] + [0])
    rows = min(max(a.shape[1] for a in arrays.values()), top + 4)
    steps = max(a.shape[0] for a in arrays.values())
    panel = min(4.0, 1.0 + 0.05 * rows)  # inches per heatmap
    fig, axes = plt.subplots(len(arrays), 1, figsize=(min(24, 3 + 0.22 * steps), 0.8 + (panel + 0.6) * len(arrays)),
                             squeeze=False)
    for ax, (name, values) in zip(axes[:, 0], arrays.items()):
        image = ax.imshow(values[:, :rows].T, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1,
                          interpolation="nearest")
        ax.set_ylabel("memory row")
        ax.set_title(name)
        if len(tokens) == values.shape[0] and len(tokens) <= 100:
            ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=6)
        else:
            ax.set_xlabel("step")
        fig.colorbar(image, ax=ax, fraction=0.02)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
