"""Validate a layered config and report every problem at once, one line each.

Each line reads ``file:line: key.path: message``, with the valid choices and a
"did you mean" where they apply.
"""

from __future__ import annotations

import contextlib
import re
import types
import typing
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Discriminator, Tag, ValidationError

from seqpipe.config import loader
from seqpipe.config.keypaths import _dotted, _short
from seqpipe.config.paths import absolute_paths
from seqpipe.config.pipeline import TOP_LEVEL, pipeline_model, stage_order
from seqpipe.errors import ConfigError, printable
from seqpipe.registry import did_you_mean
from seqpipe.schema import safe_name


def _display_path(loc: tuple, stage_names: list) -> tuple[str, tuple]:
    """A key path as written in the file -> (``stages[3].encode.cell``, the name-keyed location path)."""
    parts = list(loc)
    keyed = list(loc)
    if len(parts) >= 2 and parts[0] == "stages" and isinstance(parts[1], int):
        i = parts[1]
        name = stage_names[i] if i < len(stage_names) else None
        keyed = ["stages", name] + parts[3:] if name is not None else keyed
    return _dotted(parts), tuple(keyed)


# -- from pydantic's error locations to the file's key paths ----------------------------------
#
# Pydantic's ``loc`` holds segments that are not in the file: the tag of a discriminated union
# (``decoding.beam.beam_width``, ``stages[4].train.train.epochs``) and the member of a plain union
# that failed (``columns.text.str``). ``_walk`` follows the schema along the loc and drops them, so
# every message carries the file's own key path and is located at that key's line.


@dataclass
class _Shape:
    """What the schema expects at one key path."""

    kind: str  # model | list | dict | tagged | union | leaf
    model: Any = None  # model: its class
    item: Any = None  # list: the item type; dict: the value type
    tags: dict = dc_field(default_factory=dict)  # tagged: tag -> member type
    key: str | None = None  # tagged: the key holding the tag (None when a function finds it)
    members: list = dc_field(default_factory=list)  # union: member types


def _shape(annotation: Any, discriminator: Any = None) -> _Shape:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        for item in meta:
            found = item if isinstance(item, Discriminator) else getattr(item, "discriminator", None)
            discriminator = found if found is not None else discriminator
        return _shape(base, discriminator)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _shape(members[0], discriminator)
        if discriminator is not None:
            return _tagged(members, discriminator)
        return _Shape("union", members=members)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset):
        return _Shape("list", item=args[0] if args else Any)
    if origin is dict:
        return _Shape("dict", item=args[1] if args else Any)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _Shape("model", model=annotation)
    return _Shape("leaf")


def _tagged(members: list, discriminator: Any) -> _Shape:
    if isinstance(discriminator, Discriminator) and isinstance(discriminator.discriminator, str):
        discriminator = discriminator.discriminator
    key = discriminator if isinstance(discriminator, str) else None
    tags: dict[str, Any] = {}
    for member in members:
        meta = typing.get_args(member)[1:] if typing.get_origin(member) is typing.Annotated else ()
        tag = next((m.tag for m in meta if isinstance(m, Tag)), None)
        if tag is not None:
            tags[tag] = member
            continue
        model = _shape(member).model
        field = model.model_fields.get(key) if key and model is not None else None
        if field is not None and typing.get_origin(field.annotation) is typing.Literal:
            tags.update({str(value): member for value in typing.get_args(field.annotation)})
    return _Shape("tagged", tags=tags, key=key)


def _label(member: Any) -> str | None:
    """The name pydantic gives a plain union's member in an error location."""
    base = typing.get_args(member)[0] if typing.get_origin(member) is typing.Annotated else member
    return getattr(base, "__name__", None)


def _walk(root: type[BaseModel], loc: tuple) -> tuple[tuple, list[_Shape], bool]:
    """Pydantic's ``loc`` -> (the key path as written, the shape at each of its prefixes, whether the error
    is one member's of a plain union)."""
    path: list = []
    shapes: list[_Shape] = []
    shape = _Shape("model", model=root)
    member_error = False
    for i, seg in enumerate(loc):
        if shape.kind == "tagged" and isinstance(seg, str) and seg in shape.tags:
            shape = _shape(shape.tags[seg])  # the tag pydantic adds; the file has it as a value, not a key
            continue
        if shape.kind == "union" and isinstance(seg, str):
            member_error = True  # the member that failed: not a key of the file
            member = next((m for m in shape.members if _label(m) == seg), None)
            shape = _shape(member) if member is not None else _Shape("leaf")
            continue
        shapes.append(shape)
        path.append(seg)
        if shape.kind == "model" and isinstance(seg, str) and seg in shape.model.model_fields:
            field = shape.model.model_fields[seg]
            shape = _shape(field.annotation, field.discriminator)
        elif shape.kind == "list" and isinstance(seg, int):
            shape = _shape(shape.item)
        elif shape.kind == "dict" and not (i + 1 < len(loc) and loc[i + 1] == "[key]"):
            shape = _shape(shape.item)
        else:
            shape = _Shape("leaf")
    shapes.append(shape)
    return tuple(path), shapes, member_error


def _stage_keys(model: type[BaseModel], stage: str, task: str | None) -> list[str]:
    """The keys of stage ``stage`` that ``task`` reads (the stage's own keys when the task is unknown)."""
    from seqpipe.tasks.base import TASKS, get_task, task_key_owners

    owners = task_key_owners()
    ignores = get_task(task).ignores.get(stage, ()) if task in TASKS else ()
    return [k for k in model.model_fields
            if (owners.get((stage, k)) is None or task in owners[(stage, k)]) and k not in ignores]


_CHOICES = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _got(value: Any) -> str:
    return f"; got {_short(value, 80)}"


@dataclass
class _Line:
    where: str
    path: str
    message: str
    got: str = ""


def _problem(err: dict, layered: loader.Layered, root: type[BaseModel], stage_names: list, task: str | None
             ) -> tuple[_Line, tuple | None]:
    """One pydantic error as a line; with the key of its union group when it is one member's error."""
    kind, value = err["type"], err.get("input")
    path, shapes, member_error = _walk(root, err["loc"])
    shape, parent = shapes[-1], (shapes[-2] if len(shapes) > 1 else None)

    def line(message: str, at: tuple = path, got: str = "", missing: bool = False) -> _Line:
        text, keyed = _display_path(at, stage_names)
        return _Line(layered.where(keyed[:-1] if missing else keyed), text, message, got)

    if shape.kind == "tagged" and kind != "stage_entry":
        tags = sorted(shape.tags)
        listing = ", ".join(tags)
        if shape.key and isinstance(value, dict) and kind in ("union_tag_invalid", "union_tag_not_found"):
            if shape.key not in value:
                return line(f"required key is missing; must be one of {listing}", path + (shape.key,),
                            missing=True), None
            tag = value[shape.key]
            return line(f"must be one of {listing}", path + (shape.key,),
                        _got(tag) + did_you_mean(str(tag), tags)), None
        if kind == "union_tag_invalid":
            tag = err.get("ctx", {}).get("tag")
            return line(f"must be one of {listing}", got=_got(tag) + did_you_mean(str(tag), tags)), None
        if shape.key:
            return line(f"must be a mapping with a '{shape.key}' key (one of {listing})", got=_got(value)), None
    if kind == "extra_forbidden":
        valid = list(parent.model.model_fields) if parent is not None and parent.kind == "model" else []
        if len(path) == 4 and path[0] == "stages" and isinstance(path[2], str):
            valid = _stage_keys(parent.model, path[2], task)
        hint = did_you_mean(str(path[-1]), valid)
        listing = f"; expected one of {', '.join(valid)}" if valid else ""
        return line(f"unknown key '{path[-1]}'{listing}{hint}"), None
    if kind == "missing":
        return line("required key is missing", missing=True), None
    if kind == "too_short" and path == ("stages",):
        return line("the pipeline needs at least one stage"), None
    if kind == "literal_error":
        choices = _CHOICES.findall(err["ctx"]["expected"])
        return line(f"must be one of {', '.join(choices)}", got=_got(value) + did_you_mean(str(value), choices)), None
    if kind in ("union_tag_invalid", "stage_entry") and isinstance(value, dict) and len(value) == 1:
        from seqpipe.pipeline.stage import STAGES
        return line(STAGES.unknown_message(next(iter(value)))), None
    if kind in ("unknown_name", "stage_entry"):
        return line(err["msg"]), None
    msg = err["msg"]
    msg = re.sub(r"^(Value|Assertion) error, ", "", msg)
    msg = re.sub(r"^Input should be", "must be", msg)
    msg = re.sub(r"^Input", "value", msg)
    got = ""
    if kind not in ("value_error", "assertion_error") and value is not None and not isinstance(value, (dict, list)):
        got = _got(value)
    return line(msg, got=got), (path if member_error else None)


MAX_PROBLEMS = 100
"""Most problems shown at once (a data file read as a pipeline can have tens of thousands)."""


def _capped(lines: list[str], origin: str, more: int = 0) -> list[str]:
    """The first :data:`MAX_PROBLEMS` lines, then one line that says how many more there are."""
    more += max(len(lines) - MAX_PROBLEMS, 0)
    if not more:
        return lines
    return lines[:MAX_PROBLEMS] + [f"{origin}: too many problems: {more:,} more not shown (fix the ones above first)"]


def _lines(errors: list[dict], layered: loader.Layered, root: type[BaseModel], stage_names: list,
           task: str | None) -> ConfigError:
    """Every error as one line (the first :data:`MAX_PROBLEMS`); the errors of a plain union's members at one key
    make one line (``must be a valid string or a valid integer; got [1]``)."""
    out: list[_Line] = []
    groups: dict[tuple, _Line] = {}
    more = 0
    for n, err in enumerate(errors):
        if len(out) >= MAX_PROBLEMS:  # each message costs a "did you mean": do not compute what is not shown
            more = len(errors) - n
            break
        problem, group = _problem(err, layered, root, stage_names, task)
        if group is not None and group in groups:
            first = groups[group]
            first.message += " or " + re.sub(r"^must be ", "", problem.message)
            continue
        if group is not None:
            groups[group] = problem
        out.append(problem)
    error = ConfigError(list(dict.fromkeys(f"{p.where}: {p.path}: {p.message}{p.got}" for p in out)))
    error.more = more  # problems not turned into lines (see _one_line_each)
    return error


def validate(layered: loader.Layered, base_dir: str | Path | None = None) -> BaseModel:
    """Validate ``layered`` against the pipeline schema or raise one :class:`ConfigError`.

    The modules named by ``plugins:`` are imported by the loader, so what they register is known here. The
    values of ``sweep.params`` are checked against the keys they set (:mod:`seqpipe.config.sweep_check`).
    ``base_dir``: the folder the pipeline's relative paths are taken from (stage rules check the files they
    name there; None: files given by a relative path are not checked).
    """
    from functools import partial

    from seqpipe.config.sweep_check import sweep_problems

    check = partial(_validate, base_dir=base_dir)
    try:
        config = check(layered)
    except ConfigError as exc:
        exc.problems += sweep_problems(layered, check, TOP_LEVEL, base_ok=False)
        raise
    problems = sweep_problems(layered, check, TOP_LEVEL, base_ok=True)
    if problems:
        raise ConfigError(problems)
    return config


def grid_problems(layered: loader.Layered, params: dict, origins: dict[str, str]) -> list[str]:
    """The problems of values to sweep given outside the file (``--grid key=v1,v2``), each at its ``origins[key]``."""
    from seqpipe.config.sweep_check import sweep_problems

    return sweep_problems(layered, _validate, TOP_LEVEL, True, params, origins)


def _validate(layered: loader.Layered, base_dir: str | Path | None = None) -> BaseModel:
    model = pipeline_model()
    data = loader.stage_list(layered.data)
    named = layered.files and Path(layered.files[-1]) != loader.DICT_ORIGIN
    data.setdefault("name", safe_name(Path(layered.files[-1]).stem) if named else "pipeline")
    stage_names = [next(iter(e)) if isinstance(e, dict) and e else None
                   for e in (data.get("stages") if isinstance(data.get("stages"), list) else [])]
    try:
        config = model.model_validate(data)
    except ValidationError as exc:
        task = data.get("task") if isinstance(data.get("task"), str) else None
        raise _lines(exc.errors(), layered, model, stage_names, task) from None
    from seqpipe.config.rules import check_rules
    problems = [f"{layered.where(path)}: {shown_path(config, path)}: {msg}"
                for path, msg in check_rules(config, base_dir)]
    if problems:
        raise ConfigError(problems)
    from seqpipe.tasks.base import get_task

    get_task(config.task).resolve(config)
    return config


def shown_path(config, path: tuple) -> str:
    """A key path with its stage by name (``("stages", "train", "monitor")``) as shown: ``stages[4].train.monitor``."""
    names = config.stage_names()
    if len(path) > 1 and path[0] == "stages" and path[1] in names:
        path = ("stages", names.index(path[1])) + path[1:]
    return _display_path(path, names)[0]


def load_config(path: str | Path, overrides: list[str] = (), base_dir: str | Path | None = None
                ) -> tuple[BaseModel, loader.Layered]:
    """Read, layer, override and validate a pipeline file (relative paths typed in ``overrides`` are taken
    from the working directory; the file's own from ``base_dir``, default: the file's folder)."""
    with _one_line_each(path):
        layered = loader.load(path, list(overrides), top_level=TOP_LEVEL, stage_order=stage_order,
                              rewrite=absolute_paths)
        return validate(layered, Path(base_dir) if base_dir else _folder(path)), layered


def _folder(path: str | Path) -> Path | None:
    try:
        return Path(path).resolve().parent
    except (OSError, RuntimeError, ValueError):
        return None


def load_mapping_config(data: dict[str, Any], base_dir: str | Path, overrides: list[str] = ()
                        ) -> tuple[BaseModel, loader.Layered]:
    """Layer, override and validate a pipeline given as data (``extends`` relative to ``base_dir``)."""
    with _one_line_each(loader.DICT_ORIGIN):
        layered = loader.load_mapping(data, base_dir, list(overrides), top_level=TOP_LEVEL, stage_order=stage_order,
                                      rewrite=absolute_paths)
        return validate(layered, base_dir), layered


@contextlib.contextmanager
def _one_line_each(origin: str | Path):
    """Problems quote the user's input: escape what would break a line (newlines, U+2028, control characters);
    at most :data:`MAX_PROBLEMS` of them, then how many more there are (reported at ``origin``)."""
    try:
        yield
    except ConfigError as exc:
        if origin != loader.DICT_ORIGIN:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                origin = Path(origin).resolve()
        lines = [printable(line) for line in exc.problems]
        raise ConfigError(_capped(lines, printable(str(origin)), getattr(exc, "more", 0))) from None


def resolved_dict(config: BaseModel) -> dict[str, Any]:
    """The resolved config as plain data (every default filled in), in YAML list form.

    Keys that other tasks add to a stage, generic keys this task does not read and the keys of another kind than
    the section's ``kind`` (a recurrent encoder's ``cell`` under ``encode.kind: transformer``) are left out.
    """
    from seqpipe.tasks.base import get_task, task_key_owners

    owners, task = task_key_owners(), get_task(config.task)
    data = config.model_dump(mode="json")
    data.pop("extends", None)
    for entry in data["stages"]:
        (name, cfg), = entry.items()
        section = config.stage(name)
        other_kind = section.unread_keys() if hasattr(section, "unread_keys") else ()
        for key in list(cfg):
            if (key in task.ignores.get(name, ()) or key in other_kind or
                    ((name, key) in owners and config.task not in owners[(name, key)])):
                del cfg[key]
    return data
