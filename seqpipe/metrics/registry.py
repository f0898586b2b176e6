"""The metric registry: every metric is registered with the kind of prediction it scores."""

from __future__ import annotations

from typing import Callable, TypeVar

from seqpipe.registry import Registry

F = TypeVar("F", bound=Callable)

METRICS: Registry[Callable] = Registry("metric")


def metric(name: str, scores: str) -> Callable[[F], F]:
    """Decorator: register the function in :data:`METRICS` as ``name``; ``scores`` is the prediction kind it scores."""

    def add(fn: F) -> F:
        fn.scores = scores
        METRICS.register(name, fn)
        return fn

    return add


def metric_names(scores: str | None) -> list[str]:
    """The names of the registered metrics that score predictions of kind ``scores``, sorted."""
    return [name for name, fn in METRICS.items() if fn.scores == scores]
