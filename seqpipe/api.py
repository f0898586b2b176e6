"""The Python API under the CLI."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from seqpipe.config.report import load_config, resolved_dict


def load(pipeline: str | Path | dict[str, Any], overrides: list[str] | tuple[str, ...] = ()):
    """Read and validate a pipeline (a YAML path, or a dict in YAML form).

    Returns ``(config, layered, base_dir)``; raises :class:`seqpipe.errors.ConfigError`.
    """
    if isinstance(pipeline, dict):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{pipeline.get('name', 'pipeline')}.yaml"
            path.write_text(yaml.safe_dump(pipeline, sort_keys=False), encoding="utf-8")
            config, layered = load_config(path, list(overrides))
        return config, layered, Path.cwd()
    config, layered = load_config(pipeline, list(overrides))
    return config, layered, Path(pipeline).resolve().parent


def run(pipeline: str | Path | dict[str, Any], overrides: list[str] | tuple[str, ...] = (), *, progress: bool = True):
    """Validate and run a pipeline; returns a :class:`seqpipe.pipeline.runner.RunResult`.

    ``overrides`` are ``key.path=value`` strings, as ``seqpipe run -o`` takes them.
    """
    from seqpipe.pipeline.runner import run_pipeline

    config, _, base_dir = load(pipeline, overrides)
    return run_pipeline(config, resolved_dict(config), base_dir=base_dir, progress=progress)
