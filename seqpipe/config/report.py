"""Validate a layered config and report every problem at once, one line each.

Each line reads ``file:line: key.path: message``, with the valid choices and a
"did you mean" where they apply.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from seqpipe.config import loader
from seqpipe.config.pipeline import TOP_LEVEL, pipeline_model, stage_order
from seqpipe.errors import ConfigError
from seqpipe.registry import did_you_mean


def _display_path(loc: tuple, stage_names: list[str]) -> tuple[str, tuple]:
    """Pydantic's loc -> (``stages[3].encode.cell``, the name-keyed location path)."""
    parts = list(loc)
    keyed = list(loc)
    if len(parts) >= 2 and parts[0] == "stages" and isinstance(parts[1], int):
        i = parts[1]
        name = stage_names[i] if i < len(stage_names) else None
        keyed = ["stages", name] + parts[3:] if name else keyed
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top>", tuple(keyed)


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that validates the mapping at ``loc``."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated/list/dict wrappers down to a model class when there is one."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (list, tuple, set):
        return _unwrap(typing.get_args(annotation)[0])
    if origin is dict:
        return _unwrap(typing.get_args(annotation)[1])
    if origin in (typing.Union, types.UnionType):
        models = [a for a in (_unwrap(x) for x in typing.get_args(annotation))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if len(models) == 1 else annotation
    return annotation


def _fields_for(root: type[BaseModel], loc: tuple, stage_names: list[str]) -> list[str]:
    """The valid keys of the mapping that holds the last element of ``loc``."""
    parent = loc[:-1]
    if len(parent) >= 3 and parent[0] == "stages":  # ("stages", i, name, ...)
        from seqpipe.pipeline.stage import STAGES
        name = parent[2]
        if name not in STAGES:
            return []
        model: Any = STAGES.get(name).Config
        for part in parent[3:]:
            if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
                continue
            field = model.model_fields.get(part)
            model = _unwrap(field.annotation) if field else None
    else:
        model = _model_at(root, parent)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


_CHOICES = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _message(err: dict, root: type[BaseModel], stage_names: list[str]) -> str:
    kind, loc, value = err["type"], err["loc"], err.get("input")
    if kind == "extra_forbidden":
        valid = _fields_for(root, loc, stage_names)
        hint = did_you_mean(str(loc[-1]), valid)
        listing = f"; expected one of {', '.join(valid)}" if valid else ""
        return f"unknown key '{loc[-1]}'{listing}{hint}"
    if kind == "missing":
        return "required key is missing"
    if kind == "too_short" and loc == ("stages",):
        return "the pipeline needs at least one stage"
    if kind == "literal_error":
        choices = _CHOICES.findall(err["ctx"]["expected"])
        return f"must be one of {', '.join(choices)}; got {value!r}{did_you_mean(str(value), choices)}"
    if kind == "union_tag_invalid":
        from seqpipe.pipeline.stage import STAGES
        return STAGES.unknown_message(err["ctx"]["tag"])
    if kind == "stage_entry" and isinstance(value, dict) and len(value) == 1:
        from seqpipe.pipeline.stage import STAGES
        return STAGES.unknown_message(next(iter(value)))
    if kind in ("unknown_name", "stage_entry"):
        return err["msg"]
    msg = err["msg"]
    msg = re.sub(r"^(Value|Assertion) error, ", "", msg)
    msg = re.sub(r"^Input should be", "must be", msg)
    msg = re.sub(r"^Input", "value", msg)
    if kind not in ("value_error", "assertion_error") and value is not None and not isinstance(value, (dict, list)):
        msg += f"; got {value!r}"
    return msg


def validate(layered: loader.Layered) -> BaseModel:
    """Validate ``layered`` against the pipeline schema or raise one :class:`ConfigError`."""
    model = pipeline_model()
    data = loader.stage_list(layered.data)
    named = layered.files and Path(layered.files[-1]) != loader.DICT_ORIGIN
    data.setdefault("name", Path(layered.files[-1]).stem if named else "pipeline")
    stage_names = [next(iter(e)) for e in data.get("stages") or [] if isinstance(e, dict) and e]
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = err["loc"]
            if len(loc) >= 4 and loc[0] == "stages" and isinstance(loc[1], int) and loc[2] == loc[3]:
                err["loc"] = loc[:3] + loc[4:]  # pydantic repeats the union tag
            text, keyed = _display_path(err["loc"], stage_names)
            if err["type"] == "missing":
                where = layered.where(keyed[:-1])
            else:
                where = layered.where(keyed)
            lines.append(f"{where}: {text}: {_message(err, model, stage_names)}")
        raise ConfigError(lines) from None
    from seqpipe.config.rules import check_rules
    names = config.stage_names()

    def shown(path: tuple) -> str:
        if len(path) > 1 and path[0] == "stages" and path[1] in names:
            path = ("stages", names.index(path[1])) + path[1:]
        return _display_path(path, names)[0]

    problems = [f"{layered.where(path)}: {shown(path)}: {msg}" for path, msg in check_rules(config)]
    if problems:
        raise ConfigError(problems)
    from seqpipe.tasks.base import get_task

    get_task(config.task).resolve(config)
    return config


def load_config(path: str | Path, overrides: list[str] = ()) -> tuple[BaseModel, loader.Layered]:
    """Read, layer, override and validate a pipeline file."""
    layered = loader.load(path, list(overrides), top_level=TOP_LEVEL, stage_order=stage_order)
    return validate(layered), layered


def load_mapping_config(data: dict[str, Any], base_dir: str | Path, overrides: list[str] = ()
                        ) -> tuple[BaseModel, loader.Layered]:
    """Layer, override and validate a pipeline given as data (``extends`` relative to ``base_dir``)."""
    layered = loader.load_mapping(data, base_dir, list(overrides), top_level=TOP_LEVEL, stage_order=stage_order)
    return validate(layered), layered


def resolved_dict(config: BaseModel) -> dict[str, Any]:
    """The resolved config as plain data (every default filled in), in YAML list form.

    Keys that other tasks add to a stage, and generic keys this task does not read, are left out.
    """
    from seqpipe.tasks.base import get_task, task_key_owners

    owners, task = task_key_owners(), get_task(config.task)
    data = config.model_dump(mode="json")
    data.pop("extends", None)
    for entry in data["stages"]:
        (name, cfg), = entry.items()
        for key in list(cfg):
            if (key in task.ignores.get(name, ()) or
                    ((name, key) in owners and config.task not in owners[(name, key)])):
                del cfg[key]
    return data
