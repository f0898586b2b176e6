"""Attention drawn over the image: one panel per generated word (matplotlib Agg canvas, no pyplot state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PANELS_PER_ROW = 6


def upsample(weights: np.ndarray, grid: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """One step's attention over the grid's ``grid[0] * grid[1]`` positions (row by row) as a ``size`` (height,
    width) map: each grid cell covers its share of the image, bilinearly interpolated between cell centres."""
    from PIL import Image

    cells = np.asarray(weights, np.float32).reshape(grid)
    resized = Image.fromarray(cells).resize((int(size[1]), int(size[0])), Image.Resampling.BILINEAR)
    return np.asarray(resized, np.float32)


def plot_attention_maps(image: np.ndarray, attention: np.ndarray, words: list[str], grid: tuple[int, int],
                        path: Path) -> Path:
    """The image, then one panel per generated word with that step's attention over the image (the grid's
    weights upsampled to the image's size; one colour scale for all steps, up to their largest weight)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height, width = image.shape[:2]
    grey = image.shape[-1] == 1
    shown = image[..., 0] if grey else image
    top = max(float(np.max(attention)) if len(attention) else 0.0, 1e-9)
    panels = 1 + len(words)
    cols = min(panels, PANELS_PER_ROW)
    rows = -(-panels // cols)
    fig = Figure(figsize=(1.9 * cols, 2.1 * rows))
    FigureCanvasAgg(fig)
    for i in range(rows * cols):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.axis("off")
        if i >= panels:
            continue
        ax.imshow(shown, cmap="gray" if grey else None, vmin=0, vmax=1)
        if i == 0:
            ax.set_title("image", fontsize=8)
            continue
        heat = upsample(attention[i - 1], grid, (height, width))
        ax.imshow(heat, cmap="inferno", alpha=0.55, vmin=0, vmax=top)
        ax.set_title(words[i - 1], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
