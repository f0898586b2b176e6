"""Gradient clipping (``train.clipnorm``, ``train.clip_scope``, ``train.clipvalue``): one definition for
the optimizer that applies it and the diagnostics that count how often it fires.

- ``clipnorm`` with ``clip_scope: global`` (the default): when the L2 norm of all gradients together,
  ``||g|| = sqrt(sum over variables of ||g_v||^2)``, is above ``c``, every gradient is scaled by
  ``c / ||g||`` (the direction of the update is kept; PyTorch's ``clip_grad_norm_``, Keras's
  ``global_clipnorm``).
- ``clipnorm`` with ``clip_scope: per_variable``: each variable's gradient ``g_v`` with ``||g_v|| > c``
  is scaled by ``c / ||g_v||`` on its own (Keras's ``clipnorm``).
- ``clipvalue``: every gradient element is clipped to ``[-v, v]``.

:meth:`Clipping.optimizer_kwargs` is what the Keras optimizer is built with, :meth:`Clipping.clips` the
test "does this batch's gradient get clipped" and :meth:`Clipping.clip` the clipped gradients (the
reference the optimizer's update is tested against).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SCOPES = ("global", "per_variable")


@dataclass(frozen=True)
class Clipping:
    clipnorm: float | None = None
    clipvalue: float | None = None
    scope: str | None = None  # None: global

    def __post_init__(self):
        if self.scope is not None and self.scope not in SCOPES:
            raise ValueError(f"clip scope must be one of {', '.join(SCOPES)}; got '{self.scope}'")
        if self.clipnorm and self.clipvalue:
            raise ValueError("give clipnorm or clipvalue, not both")

    @classmethod
    def of(cls, cfg) -> Clipping:
        """The clipping of a train config (``clipnorm``, ``clipvalue``, ``clip_scope``)."""
        return cls(cfg.clipnorm, cfg.clipvalue, getattr(cfg, "clip_scope", None))

    @property
    def per_variable(self) -> bool:
        return self.scope == "per_variable"

    def optimizer_kwargs(self) -> dict:
        """The Keras optimizer arguments that apply this clipping."""
        if self.clipnorm:
            return {"clipnorm": self.clipnorm} if self.per_variable else {"global_clipnorm": self.clipnorm}
        if self.clipvalue:
            return {"clipvalue": self.clipvalue}
        return {}

    @staticmethod
    def _norms(grads) -> list[float]:
        return [_norm(g) for g in grads]

    def clips(self, grads) -> bool:
        """Whether these gradients (one per variable; None for a variable without one) are changed by the clipping:
        the global norm above clipnorm (global scope), any variable's norm above it (per_variable), or any element
        above clipvalue."""
        present = [g for g in grads if g is not None]
        if self.clipnorm:
            norms = self._norms(present)
            if self.per_variable:
                return any(n > self.clipnorm for n in norms)
            return math.sqrt(sum(n * n for n in norms)) > self.clipnorm
        if self.clipvalue:
            return any(_above(np.abs(np.asarray(g)), self.clipvalue) for g in present)
        return False

    def clip(self, grads) -> list:
        """The clipped gradients, as numpy float64 arrays (None stays None)."""
        arrays = [None if g is None else np.asarray(g, np.float64) for g in grads]
        present = [g for g in arrays if g is not None]
        if self.clipnorm:
            c = self.clipnorm
            if self.per_variable:
                return [None if g is None else g * _scale(c, _norm(g)) for g in arrays]
            total = math.sqrt(sum(n * n for n in self._norms(present)))
            return [None if g is None else g * _scale(c, total) for g in arrays]
        if self.clipvalue:
            return [None if g is None else np.clip(g, -self.clipvalue, self.clipvalue) for g in arrays]
        return arrays


def _norm(g) -> float:
    return math.sqrt(float(np.sum(np.square(np.asarray(g, np.float64)))))


def _scale(clipnorm: float, norm: float) -> float:
    """``min(1, c / norm)``: 1 for a norm within the bound (and for a zero gradient)."""
    return clipnorm / norm if norm > clipnorm else 1.0


def _above(values: np.ndarray, bound: float) -> bool:
    """Any of ``values`` above ``bound`` taken in their own float type (as the optimizer compares them: a float32
    0.6 is not above the clipvalue 0.6)."""
    if not values.size:
        return False
    kind = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float64
    return bool(np.max(values) > np.asarray(bound, kind))
