"""Classification metrics over integer class ids.

Every metric in :data:`METRICS` is a plain function ``fn(y_true, y_pred, n_classes) -> float``.
Averages run over all ``n_classes`` labels (``labels=range(n_classes)``), so a class that is
never seen nor predicted counts as 0 in macro averages; undefined ratios are 0.

sklearn, pandas and matplotlib are imported inside the functions to keep imports cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from seqpipe.metrics.registry import METRICS, metric  # noqa: F401 (METRICS: part of this module's API)

if TYPE_CHECKING:
    import pandas as pd

MetricFn = Callable[[Sequence[int], Sequence[int], int], float]

def _scores(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int, average: str | None):
    """Precision, recall, F1 and support over ``range(n_classes)``, as sklearn returns them."""
    from sklearn.metrics import precision_recall_fscore_support

    return precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(n_classes)), average=average, zero_division=0
    )


@metric("accuracy", "labels")
def accuracy(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
    """Fraction of exact matches."""
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred))


@metric("macro_f1", "labels")
def macro_f1(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
    """Unweighted mean of the per-class F1 scores."""
    return float(_scores(y_true, y_pred, n_classes, "macro")[2])


@metric("weighted_f1", "labels")
def weighted_f1(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
    """Mean of the per-class F1 scores weighted by true support."""
    return float(_scores(y_true, y_pred, n_classes, "weighted")[2])


@metric("macro_precision", "labels")
def macro_precision(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
    """Unweighted mean of the per-class precisions."""
    return float(_scores(y_true, y_pred, n_classes, "macro")[0])


@metric("macro_recall", "labels")
def macro_recall(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> float:
    """Unweighted mean of the per-class recalls."""
    return float(_scores(y_true, y_pred, n_classes, "macro")[1])


def label_report(
    y_true: Sequence[int], y_pred: Sequence[int], labels: list[str]
) -> pd.DataFrame:
    """Per-class precision, recall, f1 and support, plus ``macro avg`` and ``weighted avg`` rows.

    Class id ``i`` is reported under ``labels[i]``; the average rows' support is the total.
    """
    import pandas as pd

    n_classes = len(labels)
    precision, recall, f1, support = _scores(y_true, y_pred, n_classes, None)
    report = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support},
        index=pd.Index(labels, name="class"),
    )
    total = int(support.sum())
    for name, average in (("macro avg", "macro"), ("weighted avg", "weighted")):
        p, r, f, _ = _scores(y_true, y_pred, n_classes, average)
        report.loc[name] = [p, r, f, total]
    return report.astype({"support": "int64"})


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """``n_classes x n_classes`` counts; rows are true classes, columns predicted ones."""
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    return sk_confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))


def plot_confusion_matrix(
    cm: np.ndarray, labels: list[str], path: str | Path, title: str = "Confusion matrix"
) -> Path:
    """Write ``cm`` as a PNG: counts in the cells, colour by row-normalised share.

    Uses matplotlib's Agg canvas directly (no pyplot state, no display needed).
    Returns the path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cm = np.asarray(cm)
    n = len(labels)
    shares = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * n + 2.5)
    fig = Figure(figsize=(size + 1.0, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    font_size = max(6, 12 - n // 4)
    for i in range(n):
        for j in range(n):
            colour = "white" if shares[i, j] > 0.5 else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=colour, fontsize=font_size)
    ax.set_xticks(range(n), labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path
