"""Regression metrics over numbers: ``fn(y_true, y_pred) -> float`` (kind ``"numbers"``).

``y_true`` and ``y_pred`` are sequences of floats of the same length (at least one value).
``mse`` and ``mae`` are the mean squared and absolute errors; ``r2`` is the coefficient of
determination ``1 - SS_res / SS_tot`` (equal to sklearn's ``r2_score``). When the true values are all
equal (``SS_tot = 0``) it is 1.0 for exact predictions and 0.0 otherwise, as sklearn's
``force_finite`` gives, so every score is finite. numpy only.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from seqpipe.metrics.registry import metric


def _arrays(y_true: Sequence[float], y_pred: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    true, pred = np.asarray(y_true, dtype="float64").ravel(), np.asarray(y_pred, dtype="float64").ravel()
    if true.shape != pred.shape:
        raise ValueError(f"{len(true)} true values but {len(pred)} predictions")
    if not len(true):
        raise ValueError("no values to score")
    return true, pred


@metric("mse", "numbers")
def mse(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Mean squared error."""
    true, pred = _arrays(y_true, y_pred)
    return float(np.mean((pred - true) ** 2))


@metric("mae", "numbers")
def mae(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Mean absolute error."""
    true, pred = _arrays(y_true, y_pred)
    return float(np.mean(np.abs(pred - true)))


@metric("r2", "numbers")
def r2(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Coefficient of determination: 1 - SS_res / SS_tot (1 is perfect, 0 is the mean's score)."""
    true, pred = _arrays(y_true, y_pred)
    total = float(np.sum((true - true.mean()) ** 2))
    residual = float(np.sum((true - pred) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total
