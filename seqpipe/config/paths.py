"""Relative paths typed in ``-o`` overrides are taken from the working directory.

In a pipeline file, a relative path of a :data:`~seqpipe.schema.PathStr` field (``data.source.train``) is
taken from that file's folder. Typed in ``-o data.source.train=g.tsv``, it means the ``g.tsv`` beside the
user, so :func:`absolute_paths` makes every relative path the override sets in such a field absolute from
the working directory as the override is applied. Which fields hold such paths is read from the schema
(the :class:`~seqpipe.schema.FileRelative` mark that ``PathStr`` carries), also inside a list, a mapping
or a whole section set at once (``-o data.source={train: [a.tsv, b.tsv]}``).
"""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from seqpipe.schema import FileRelative


def absolute_paths(keypath: tuple, value: Any, cwd: Path | None = None) -> Any:
    """``value``, set at ``keypath`` (stages keyed by name) by an override, with the relative paths of
    file-relative path fields made absolute from ``cwd`` (default: the working directory)."""
    annotation = annotation_at(keypath)
    if annotation is None:
        return value
    return _absolute(annotation, value, Path.cwd() if cwd is None else Path(cwd))


def annotation_at(keypath: tuple) -> Any:
    """The schema's annotation of the value at ``keypath`` (None when the schema says nothing there)."""
    from seqpipe.config.pipeline import pipeline_model, stage_config
    from seqpipe.pipeline.stage import STAGES

    parts = list(keypath)
    if parts[:1] == ["stages"]:
        if len(parts) < 2 or parts[1] not in STAGES:
            return None
        annotation, parts = stage_config(parts[1]), parts[2:]
    else:
        annotation = pipeline_model()
    for part in parts:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    return annotation


def _parts(annotation: Any) -> tuple[Any, tuple, Any, tuple]:
    """(the annotation without Annotated, its metadata, its origin, its arguments)."""
    meta: tuple = ()
    while typing.get_origin(annotation) is typing.Annotated:
        annotation, *more = typing.get_args(annotation)
        meta += tuple(more)
    return annotation, meta, typing.get_origin(annotation), typing.get_args(annotation)


def _step(annotation: Any, part: Any) -> Any:
    base, _, origin, args = _parts(annotation)
    if origin in (typing.Union, types.UnionType):
        return next((found for member in args if (found := _step(member, part)) is not None), None)
    if isinstance(base, type) and issubclass(base, BaseModel):
        field = base.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field is not None else None
    if origin is dict and args:
        return args[1]
    if origin in (list, tuple) and args and isinstance(part, int):
        return args[0]
    return None


def _absolute(annotation: Any, value: Any, cwd: Path) -> Any:
    base, meta, origin, args = _parts(annotation)
    if isinstance(value, str) and any(isinstance(m, FileRelative) for m in meta):
        path = os.path.expanduser(value)
        return value if os.path.isabs(path) or not value.strip() else str(cwd / path)
    if origin in (typing.Union, types.UnionType):
        for member in args:
            changed = _absolute(member, value, cwd)
            if changed != value:
                return changed
        return value
    if isinstance(value, dict) and isinstance(base, type) and issubclass(base, BaseModel):
        fields = base.model_fields
        return {key: _absolute(fields[key].annotation, item, cwd) if key in fields else item
                for key, item in value.items()}
    if isinstance(value, dict) and origin is dict and args:
        return {key: _absolute(args[1], item, cwd) for key, item in value.items()}
    if isinstance(value, list) and origin in (list, tuple) and args:
        return [_absolute(args[0], item, cwd) for item in value]
    return value


def from_folder(key: str, value: Any, folder: Path) -> Any:
    """``value`` for the dotted ``key`` (``data.source.train``, ``train.epochs``) with its file-relative paths
    taken from ``folder``: for values written in a pipeline file but applied as overrides (a sweep's params)."""
    from seqpipe.config.pipeline import TOP_LEVEL

    parts = tuple(key.split("."))
    if not all(parts) or any(GLOB_KEY & set(part) for part in parts):
        return value
    return absolute_paths(parts if parts[0] in TOP_LEVEL else ("stages", *parts), value, folder)


GLOB_KEY = frozenset("[]")  # an indexed key path (stages[2].units) is left as it is
