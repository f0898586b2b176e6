"""The metric registry: every metric is registered with the kind of prediction it scores."""

from __future__ import annotations

from typing import Callable, Iterable, TypeVar

from seqpipe.registry import Registry

F = TypeVar("F", bound=Callable)

METRICS: Registry[Callable] = Registry("metric")


def metric(name: str, scores: str, prepare: Callable[[], None] | None = None) -> Callable[[F], F]:
    """Decorator: register the function in :data:`METRICS` as ``name``; ``scores`` is the prediction kind it scores.

    ``prepare`` (no arguments) gets what the metric needs beyond Python packages (a program, a download) or raises
    a SeqpipeError saying how to get it; a pipeline that reports the metric calls it before training
    (:func:`prepare_metrics`).
    """

    def add(fn: F) -> F:
        fn.scores = scores
        fn.prepare = prepare
        METRICS.register(name, fn)
        return fn

    return add


def metric_names(scores: str | None) -> list[str]:
    """The names of the registered metrics that score predictions of kind ``scores``, sorted."""
    return [name for name, fn in METRICS.items() if fn.scores == scores]


def prepare_metrics(names: Iterable[str]) -> None:
    """Call the ``prepare`` of each named metric that has one, once each."""
    for name in dict.fromkeys(names):
        prepare = getattr(METRICS.get(name), "prepare", None)
        if prepare is not None:
            prepare()
