"""The run context: named artifacts passed between stages, plus the run's services."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqpipe.errors import PipelineError


@dataclass
class RunContext:
    """What a running stage sees: the resolved config, the run folder, the tracker, artifacts."""

    config: Any  # the validated PipelineConfig
    run_dir: Path
    base_dir: Path  # folder of the pipeline file; relative data paths resolve against it
    tracker: Any
    log: logging.Logger
    progress: bool = True
    artifacts: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    _allowed: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> Any:
        if name not in self.artifacts:
            raise PipelineError(f"artifact '{name}' is not available; have: {', '.join(sorted(self.artifacts)) or 'none'}")
        return self.artifacts[name]

    def __contains__(self, name: str) -> bool:
        return name in self.artifacts

    def put(self, name: str, value: Any) -> None:
        """Publish an artifact; a stage may only publish what it declared in ``provides``."""
        if self._allowed and name not in self._allowed:
            raise PipelineError(f"a stage published '{name}' but declares only {', '.join(self._allowed)}")
        self.artifacts[name] = value

    def add_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Record final metrics (returned by the run) and log them to the tracker."""
        clean = {k: float(v) for k, v in metrics.items()}
        if step is None:
            self.metrics.update(clean)
        self.tracker.log_metrics(clean, step=step)

    def path(self, *parts: str) -> Path:
        """A path inside the run folder (parents created)."""
        p = self.run_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p
