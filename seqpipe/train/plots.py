"""Training-curve plots (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path


def plot_history(history: dict[str, list[float]], path: Path) -> Path:
    """One panel per metric (train and validation together), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    names = [k for k in history if not k.startswith("val_") and k != "learning_rate"]
    names += [k for k in history if k.startswith("val_") and k[4:] not in history]  # validation-only, e.g. val_bleu
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = range(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], marker="o", label="validation" if name.startswith("val_") else "train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
