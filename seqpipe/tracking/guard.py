"""Keep a run alive when tracking fails after it started.

Which tracking failures are fatal:

- **Fatal** (exit 2, before any data is read): the tracker cannot *start* the run, for
  example a store that cannot be reached or opened, or a deleted experiment.
- **Not fatal**: anything that fails once the run exists (a metric, tag, param batch,
  artifact, the logged model or its registered version that the store refuses). The run
  goes on, every result stays in the run folder, the problem is reported in one line on
  the console and in ``run.log``, the MLflow run gets the tag ``seqpipe.tracking_warnings``
  naming what could not be logged, and ``seqpipe run`` exits with 4 ("finished with warnings").
"""

from __future__ import annotations

import logging
from pathlib import Path

from seqpipe.tracking.base import Tracker

WARNINGS_TAG = "seqpipe.tracking_warnings"


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, cut to ``limit`` characters (SQL dumps stay out)."""
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return message if len(message) <= limit else message[: limit - 3] + "..."


class GuardedTracker:
    """Wraps a started :class:`Tracker`; failures of its logging calls become warnings.

    ``warnings`` lists one line per failure (``what: error``). ``end`` first records them
    as the tag :data:`WARNINGS_TAG`, then ends the run with the given status.
    """

    def __init__(self, tracker: Tracker, log: logging.Logger):
        self.tracker, self.log = tracker, log
        self.warnings: list[str] = []

    def _guard(self, what: str, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 -- any store error must not end the run
            line = f"tracking: could not log {what} ({one_line(exc)}); the run goes on and keeps it in its folder"
            self.warnings.append(f"{what}: {one_line(exc)}")
            self.log.warning("%s", line)
            return None

    def log_params(self, params: dict) -> None:
        self._guard("params", self.tracker.log_params, params)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        names = ", ".join(list(metrics)[:3]) + (", ..." if len(metrics) > 3 else "")
        self._guard(f"metrics {names}", self.tracker.log_metrics, metrics, step=step)

    def set_tags(self, tags: dict[str, str]) -> None:
        self._guard(f"tags {', '.join(tags)}", self.tracker.set_tags, tags)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._guard(f"artifact {Path(path).name}", self.tracker.log_artifact, path, artifact_path)

    def log_pyfunc_model(self, saved_model_dir: Path, **kwargs):
        return self._guard("the MLflow model", self.tracker.log_pyfunc_model, saved_model_dir, **kwargs)

    def register_model(self, model_uri: str, name: str, tags: dict[str, str]):
        return self._guard(f"the registered model version of {name}", self.tracker.register_model,
                           model_uri, name, tags)

    def end(self, status: str = "FINISHED") -> None:
        if self.warnings:
            self._guard("the warnings tag", self.tracker.set_tags, {WARNINGS_TAG: "; ".join(self.warnings)})
        try:
            self.tracker.end(status)
        except Exception as exc:  # noqa: BLE001
            self.warnings.append(f"run status {status}: {one_line(exc)}")
            self.log.warning("tracking: could not mark the run %s (%s)", status, one_line(exc))

    def __getattr__(self, name: str):
        return getattr(self.tracker, name)
