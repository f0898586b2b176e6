"""The Python API under the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqpipe.config.report import load_config, load_mapping_config, resolved_dict


def load(pipeline: str | Path | dict[str, Any], overrides: list[str] | tuple[str, ...] = (), *,
         base_dir: str | Path | None = None):
    """Read and validate a pipeline: a YAML path, or a dict in YAML form.

    A dict's ``extends`` and relative data paths are taken from ``base_dir`` (default: the working
    directory) and its problems are reported at ``<dict>``. Returns ``(config, layered, base_dir)``;
    raises :class:`seqpipe.errors.ConfigError`.
    """
    if isinstance(pipeline, dict):
        base = Path(base_dir or Path.cwd()).resolve()
        config, layered = load_mapping_config(pipeline, base, list(overrides))
        return config, layered, base
    config, layered = load_config(pipeline, list(overrides), base_dir=base_dir)
    return config, layered, Path(base_dir).resolve() if base_dir else Path(pipeline).resolve().parent


def run(pipeline: str | Path | dict[str, Any], overrides: list[str] | tuple[str, ...] = (), *, progress: bool = True,
        base_dir: str | Path | None = None, resume: str | Path | None = None, parent_run: str | None = None,
        cache: bool = True):
    """Validate and run a pipeline; returns a :class:`seqpipe.runner.RunResult`.

    ``pipeline`` is a YAML file or the same config as a dict (then ``base_dir`` resolves its ``extends`` and
    relative data paths). ``overrides`` are ``key.path=value`` strings, as ``seqpipe run -o`` takes them.
    ``resume`` (a run folder or MLflow run id) continues that run from its last checkpoint; ``parent_run``
    nests the MLflow run under that run (as the trials of a sweep are); ``cache=False`` computes every stage
    instead of reusing what an earlier run computed from the same inputs.
    """
    from seqpipe.runner import run_pipeline

    config, _, base = load(pipeline, overrides, base_dir=base_dir)
    return run_pipeline(config, resolved_dict(config), base_dir=base, progress=progress, resume=resume,
                        parent_run=parent_run, cache=cache)
