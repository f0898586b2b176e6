"""Helpers for config tests: write YAML files under tmp_path, load them like the CLI does."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path):
    """write("a/b.yaml", text) -> the absolute, resolved Path of the new file."""

    def _write(name: str, text: str) -> Path:
        path = (tmp_path / name).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def load_layered():
    """seqpipe.config.loader.load with the pipeline's top-level keys and stage order."""
    from seqpipe.config.loader import load
    from seqpipe.config.pipeline import TOP_LEVEL, stage_order

    def _load(path, overrides=()):
        return load(path, list(overrides), top_level=TOP_LEVEL, stage_order=stage_order)

    return _load


@pytest.fixture
def problems():
    """problems(callable, *args) -> the ConfigError's lines (fails if nothing is raised)."""
    from seqpipe.errors import ConfigError

    def _problems(func, *args, **kwargs) -> list[str]:
        with pytest.raises(ConfigError) as info:
            func(*args, **kwargs)
        assert str(info.value) == "\n".join(info.value.problems)
        return info.value.problems

    return _problems
