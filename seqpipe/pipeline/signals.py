"""Ctrl-C and SIGTERM: stop at a clean point during training, at once elsewhere.

While :func:`deferred` is active (the training loop), the first SIGINT/SIGTERM only asks to stop:
the training callbacks notice it after the current batch (or the current validation pass), write
a checkpoint and raise :class:`Interrupted`. A second signal, or a signal outside training, raises
:class:`Interrupted` immediately.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class Interrupted(KeyboardInterrupt):
    """The run was stopped by Ctrl-C or SIGTERM (the run is marked KILLED; resume it with --resume)."""


_state = {"defer": False, "requested": None}


def stop_requested() -> str | None:
    """The name of the signal that asked the training loop to stop, or None."""
    return _state["requested"]


def _handler(signum, frame):
    name = signal.Signals(signum).name
    if _state["defer"] and _state["requested"] is None:
        _state["requested"] = name
        return
    raise Interrupted(name)


@contextmanager
def interruptible() -> Iterator[None]:
    """Route SIGINT and SIGTERM through :func:`_handler` for the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _handler)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state.update(defer=False, requested=None)


@contextmanager
def deferred() -> Iterator[None]:
    """Inside the block a first signal only requests a stop (see :func:`stop_requested`)."""
    _state.update(defer=True, requested=None)
    try:
        yield
    finally:
        _state["defer"] = False
