"""The run context: named artifacts passed between stages, plus the run's services."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ContractError(RuntimeError):
    """A stage (or its task's hook) read or published an artifact it does not declare: a bug, not a user error."""


@dataclass
class RunContext:
    """What a running stage sees: the resolved config, its task, the run folder, the tracker, artifacts.

    While a stage runs, :meth:`begin_stage` has set what it may read (its ``requires`` and
    ``optional``, plus what the task adds for that stage) and what it may publish; anything
    else raises :class:`ContractError`, so a stage chain that validates cannot fail later for
    an artifact nobody declared.
    """

    config: Any  # the validated PipelineConfig
    run_dir: Path
    base_dir: Path  # folder of the pipeline file; relative data paths resolve against it
    tracker: Any
    log: logging.Logger
    task: Any = None  # the pipeline's seqpipe.tasks.base.Task
    progress: bool = True
    chief: bool = True  # tf.distribute multi_worker: only the chief tracks and exports
    resume: bool = False  # continue from the run folder's checkpoints (seqpipe run --resume)
    replay_history: bool = False  # training comes from the stage cache: log its history as if it ran
    artifacts: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    stage: str | None = None
    published: list[str] = field(default_factory=list)  # what the running stage has published so far
    _readable: frozenset[str] | None = None  # None: no stage is running (the runner itself)
    _writable: frozenset[str] | None = None

    def begin_stage(self, name: str, reads: tuple[str, ...], writes: tuple[str, ...]) -> None:
        self.stage, self._readable, self._writable = name, frozenset(reads), frozenset(writes)
        self.published = []

    def end_stage(self) -> None:
        self.stage = self._readable = self._writable = None

    def __getitem__(self, name: str) -> Any:
        if self._readable is not None and name not in self._readable:
            raise ContractError(f"stage '{self.stage}' read artifact '{name}' but declares only "
                                f"{', '.join(sorted(self._readable)) or 'nothing'}")
        if name not in self.artifacts:
            raise ContractError(f"stage '{self.stage}' needs artifact '{name}', which no earlier stage published; "
                                f"have: {', '.join(sorted(self.artifacts)) or 'none'}")
        return self.artifacts[name]

    def get(self, name: str, default: Any = None) -> Any:
        """An optional artifact: its value, or ``default`` when no stage published it."""
        if self._readable is not None and name not in self._readable:
            raise ContractError(f"stage '{self.stage}' read artifact '{name}' but declares only "
                                f"{', '.join(sorted(self._readable)) or 'nothing'}")
        return self.artifacts.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.artifacts

    def put(self, name: str, value: Any) -> None:
        """Publish an artifact; a stage may only publish what it (or its task for it) declares."""
        if self._writable is not None and name not in self._writable:
            raise ContractError(f"stage '{self.stage}' published '{name}' but declares only "
                                f"{', '.join(sorted(self._writable)) or 'nothing'}")
        self.artifacts[name] = value
        self.published.append(name)

    def add_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Record final metrics (returned by the run) and log them to the tracker."""
        clean = {k: float(v) for k, v in metrics.items()}
        if step is None:
            self.metrics.update(clean)
        self.tracker.log_metrics(clean, step=step)

    def path(self, *parts: str) -> Path:
        """A path inside the run folder (parents created); a path that would leave the folder is refused."""
        p = self.run_dir.joinpath(*parts)
        if not p.resolve().is_relative_to(self.run_dir.resolve()):
            raise ContractError(f"{p} is outside the run folder {self.run_dir}")
        p.parent.mkdir(parents=True, exist_ok=True)
        return p
