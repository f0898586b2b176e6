"""Plots for sequence-to-sequence runs (matplotlib Agg canvas, no pyplot state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_attention(weights: np.ndarray, source: list[str], target: list[str], path: Path) -> Path:
    """Heatmap of attention weights: one row per target token, one column per source token."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, cols = weights.shape
    fig = Figure(figsize=(max(4, 0.32 * cols + 2), max(3, 0.3 * rows + 1.5)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(weights, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(cols), source[:cols], rotation=90, fontsize=7)
    ax.set_yticks(range(rows), target[:rows], fontsize=7)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
