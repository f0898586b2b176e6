"""The experiment-tracker interface, its registry and the do-nothing tracker."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

from seqpipe.registry import Registry

RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")


def check_status(status: str) -> str:
    """Return ``status`` if it is a valid final run status, else raise ``ValueError``."""
    if status not in RUN_STATUSES:
        raise ValueError(f"run status must be one of {', '.join(RUN_STATUSES)}; got '{status}'")
    return status


class Tracker(ABC):
    """Records one run at a time: params, metrics, tags, artifacts and a servable model.

    Trackers are built as ``cls(tracking_uri=...)``. Used as a context manager, the run is
    ended ``FINISHED`` on success, ``KILLED`` on ``KeyboardInterrupt`` and ``FAILED`` on any
    other exception (the exception still propagates)::

        with TRACKERS.get("mlflow")() as tracker:
            tracker.start("sentiment", "lstm-small", {"owner": "me"})
            tracker.log_metrics({"loss": 0.3}, step=1)
    """

    def __init__(self, tracking_uri: str | None = None):
        """``tracking_uri`` says where runs are stored; trackers that store nothing ignore it."""

    @abstractmethod
    def start(self, experiment: str, run_name: str, tags: dict[str, str]) -> str | None:
        """Start a run in ``experiment`` (created if missing); return its id."""

    def resume(self, run_id: str) -> str | None:
        """Continue an existing run (seqpipe run --resume): mark it running again and log into it."""
        raise NotImplementedError(f"{type(self).__name__} cannot resume runs")

    @abstractmethod
    def log_params(self, params: dict[str, object]) -> None:
        """Log params; nested dicts are flattened to dotted keys (see ``flatten_params``)."""

    @abstractmethod
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log metric values, at ``step`` when given."""

    @abstractmethod
    def set_tags(self, tags: dict[str, str]) -> None:
        """Set run tags (overwriting earlier values)."""

    @abstractmethod
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Upload a file, or a directory under its own name, into ``artifact_path``."""

    @abstractmethod
    def log_pyfunc_model(
        self, saved_model_dir: Path, *, pip_requirements: list[str], serving, name: str = "model",
        extra_artifacts: dict[str, Path] | None = None,
    ) -> str | None:
        """Log a SavedModel as a servable model taking raw strings; return the model URI.

        ``extra_artifacts`` (``{key: path}``) are files stored with the model beside the SavedModel; ``serving``
        is the task's serving module (:attr:`seqpipe.tasks.base.Task.serving`), logged with the model.
        """

    def register_model(self, model_uri: str, name: str, tags: dict[str, str]) -> str | None:
        """Register the logged model ``model_uri`` as a new version of the registered model ``name``
        (created if missing), with ``tags`` on the version; return the version (None: not registered)."""
        raise NotImplementedError(f"{type(self).__name__} has no model registry")

    @abstractmethod
    def end(self, status: str = "FINISHED") -> None:
        """End the current run with ``status`` (FINISHED, FAILED or KILLED); no-op if none."""

    @property
    @abstractmethod
    def run_id(self) -> str | None:
        """Id of the current (or last) run."""

    @property
    @abstractmethod
    def tracking_uri(self) -> str | None:
        """Where runs are stored."""

    @property
    @abstractmethod
    def experiment_id(self) -> str | None:
        """Id of the current (or last) run's experiment."""

    @property
    @abstractmethod
    def ui_url(self) -> str | None:
        """Link to the run in a web UI."""

    def __enter__(self) -> Tracker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end("FINISHED")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("KILLED")
        else:
            self.end("FAILED")


TRACKERS: Registry[type[Tracker]] = Registry("tracker", base=Tracker)


@TRACKERS.register("none")
class NullTracker(Tracker):
    """Tracks nothing; every method accepts the same arguments and returns ``None``."""

    def start(self, experiment: str, run_name: str, tags: dict[str, str]) -> str | None:
        return None

    def resume(self, run_id: str) -> str | None:
        return None

    def log_params(self, params: dict[str, object]) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    def set_tags(self, tags: dict[str, str]) -> None:
        pass

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def log_pyfunc_model(
        self, saved_model_dir: Path, *, pip_requirements: list[str], serving, name: str = "model",
        extra_artifacts: dict[str, Path] | None = None,
    ) -> str | None:
        return None

    def register_model(self, model_uri: str, name: str, tags: dict[str, str]) -> str | None:
        return None

    def end(self, status: str = "FINISHED") -> None:
        check_status(status)

    @property
    def run_id(self) -> str | None:
        return None

    @property
    def tracking_uri(self) -> str | None:
        return None

    @property
    def experiment_id(self) -> str | None:
        return None

    @property
    def ui_url(self) -> str | None:
        return None
