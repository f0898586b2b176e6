"""Load pipeline YAML with line numbers, layer ``extends:`` fragments and apply overrides.

Layering follows OpenNMT-tf's rule: the rightmost fragment in ``extends`` takes priority,
then the file itself, then ``-o key.path=value`` overrides from the command line.
Mappings merge key by key. The ``stages`` list merges by stage name: a later layer that
names ``encode`` updates the earlier ``encode`` entry instead of adding a second one.
Every other list is replaced whole.

Locations are kept per key path (``("stages", "encode", "cell")``; stages are addressed by
name internally) so that errors can say ``file:line``.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from seqpipe.errors import ConfigError

Path_ = tuple  # a key path such as ("stages", "encode", "units")


@dataclass
class Layered:
    """A merged configuration: plain data plus where each key path was last set."""

    data: dict[str, Any]
    locations: dict[Path_, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def where(self, path: Path_) -> str:
        """The location of ``path`` or of its nearest ancestor that has one."""
        for cut in range(len(path), 0, -1):
            loc = self.locations.get(tuple(path[:cut]))
            if loc:
                return loc
        return str(self.files[-1]) if self.files else "<config>"


def _construct(node: yaml.Node, file: str, path: Path_, locs: dict, problems: list) -> Any:
    """Turn a composed YAML node into Python data, recording each key's line."""
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader("").construct_object(key_node, deep=True)
            where = f"{file}:{key_node.start_mark.line + 1}"
            if not isinstance(key, str):
                problems.append(f"{where}: {_dotted(path)}: keys must be strings; got {key!r}")
                continue
            if key in out:
                problems.append(f"{where}: {_dotted(path + (key,))}: duplicate key")
            locs[path + (key,)] = where
            out[key] = _construct(value_node, file, path + (key,), locs, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            locs[path + (i,)] = f"{file}:{item.start_mark.line + 1}"
            items.append(_construct(item, file, path + (i,), locs, problems))
        return items
    return yaml.SafeLoader("").construct_object(node, deep=True)


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top>"


def _stages_by_name(stages: Any, file: str, locs: dict, problems: list) -> dict[str, Any]:
    """Turn the YAML ``stages`` list into an ordered ``{name: config}`` mapping."""
    where = locs.get(("stages",), file)
    if not isinstance(stages, list):
        problems.append(f"{where}: stages: must be a list of one-key mappings like '- train: {{epochs: 2}}'; "
                        f"got {type(stages).__name__}")
        return {}
    named: dict[str, Any] = {}
    for i, entry in enumerate(stages):
        at = locs.get(("stages", i), where)
        if isinstance(entry, str):  # "- evaluate" with every default
            entry = {entry: {}}
        if not (isinstance(entry, dict) and len(entry) == 1):
            problems.append(f"{at}: stages[{i}]: each stage must be a mapping with exactly one key (the stage name); "
                            f"got {entry!r}")
            continue
        (name, cfg), = entry.items()
        if name in named:
            problems.append(f"{at}: stages[{i}]: stage '{name}' appears twice; give each stage once")
            continue
        named[name] = {} if cfg is None else cfg
        # re-key locations from list index to stage name
        for key in [k for k in locs if k[:2] == ("stages", i) and len(k) > 2]:
            locs[("stages",) + key[2:]] = locs.pop(key)
        locs[("stages", name)] = at
    return named


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(over)


def _read_file(path: Path, seen: tuple[Path, ...], problems: list) -> Layered:
    """Read one file and (recursively) the fragments it extends."""
    if path in seen:
        chain = " -> ".join(str(p) for p in seen + (path,))
        raise ConfigError([f"{seen[-1]}: extends: cycle {chain}"])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = f"{seen[-1]}: extends" if seen else str(path)
        raise ConfigError([f"{where}: file not found: {path}"]) from None
    except IsADirectoryError:
        where = f"{seen[-1]}: extends" if seen else str(path)
        raise ConfigError([f"{where}: is a folder, not a YAML file: {path}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([f"{path}{line}: not valid YAML: {reason}"]) from None
    locs: dict[Path_, str] = {}
    data = _construct(node, str(path), (), locs, problems) if node is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the file must hold a mapping (key: value lines); got {type(data).__name__}"])
    return _with_extends(data, locs, path, path.parent, seen, problems)


DICT_ORIGIN = Path("<dict>")  # where the keys of a config given as data (not a file) come from


def _locate(value: Any, path: Path_, locs: dict) -> None:
    """Record ``<dict>`` as the location of every key path of plain data."""
    if isinstance(value, dict):
        for key, item in value.items():
            locs[path + (key,)] = str(DICT_ORIGIN)
            _locate(item, path + (key,), locs)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            locs[path + (i,)] = str(DICT_ORIGIN)
            _locate(item, path + (i,), locs)


def _with_extends(data: dict, locs: dict, origin: Path, base: Path, seen: tuple[Path, ...], problems: list) -> Layered:
    """``data`` (read from ``origin``) layered over the fragments it extends, found relative to ``base``."""
    path = origin
    if "stages" in data:
        data["stages"] = _stages_by_name(data["stages"], str(path), locs, problems)

    extends = data.pop("extends", [])
    if isinstance(extends, str):
        extends = [extends]
    if not isinstance(extends, list) or not all(isinstance(e, str) for e in extends):
        problems.append(f"{locs.get(('extends',), path)}: extends: must be a list of file paths; got {extends!r}")
        extends = []
    merged = Layered(data={}, files=[])
    for i, rel in enumerate(extends):
        target = (base / rel).resolve()
        if not target.exists():
            problems.append(f"{locs.get(('extends', i), path)}: extends[{i}]: file not found: {rel} "
                            f"(looked in {target.parent})")
            continue
        merged = _layer(merged, _read_file(target, seen + (path,), problems))
    return _layer(merged, Layered(data=data, locations=locs, files=[path]))


def _layer(base: Layered, over: Layered) -> Layered:
    locations = dict(base.locations)
    locations.update(over.locations)
    return Layered(_merge(base.data, over.data), locations, base.files + over.files)


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_override(text: str, top_level: set[str], stage_names: list[str]) -> tuple[Path_, Any]:
    """Parse ``key.path=value``; the value is read as YAML (``2`` -> int, ``[a, b]`` -> list).

    A path may start with ``stages.NAME``, ``stages[i]``, or just a stage name
    (``train.epochs=2``) when that name is not a top-level key.
    """
    where = f"-o {text}"
    if "=" not in text:
        raise ConfigError([f"{where}: expected key.path=value"])
    key, raw = text.split("=", 1)
    parts: list[Any] = []
    for m in _SEGMENT.finditer(key.strip()):
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    if not parts or "".join(str(p) for p in parts) == "":
        raise ConfigError([f"{where}: empty key path"])
    if parts[0] == "stages" and len(parts) > 1 and isinstance(parts[1], int):
        if parts[1] >= len(stage_names):
            raise ConfigError([f"{where}: stages[{parts[1]}]: the pipeline has {len(stage_names)} stages"])
        parts[1] = stage_names[parts[1]]
    elif parts[0] not in top_level and parts[0] != "stages" and parts[0] in stage_names:
        parts.insert(0, "stages")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return tuple(parts), value


def apply_override(layered: Layered, path: Path_, value: Any, origin: str) -> None:
    node = layered.data
    for i, part in enumerate(path[:-1]):
        nxt = node.get(part) if isinstance(node, dict) else None
        if nxt is None:
            nxt = {}
            node[part] = nxt
            layered.locations[path[: i + 1]] = origin  # a mapping this override created
        if not isinstance(nxt, dict):
            raise ConfigError([f"{origin}: {_dotted(path[: i + 1])}: holds a {type(nxt).__name__} value, "
                               f"not a mapping; cannot set {_dotted(path)}"])
        node = nxt
    node[path[-1]] = value
    layered.locations[path] = origin
    for key in [k for k in layered.locations if k[: len(path)] == path and len(k) > len(path)]:
        del layered.locations[key]


def load_mapping(
    data: dict[str, Any],
    base_dir: str | Path,
    overrides: list[str] = (),
    *,
    top_level: set[str] = frozenset(),
    stage_order: Callable[[str], int] = lambda name: 0,
) -> Layered:
    """Like :func:`load` for a config given as data: ``extends`` are found relative to ``base_dir`` and
    problems are located at ``<dict>`` (with their key path)."""
    if not isinstance(data, dict):
        raise ConfigError([f"{DICT_ORIGIN}: the config must be a mapping; got {type(data).__name__}"])
    problems: list[str] = []
    locs: dict[Path_, str] = {}
    data = copy.deepcopy(data)
    _locate(data, (), locs)
    layered = _with_extends(data, locs, DICT_ORIGIN, Path(base_dir).resolve(), (), problems)
    return _finish(layered, overrides, problems, top_level, stage_order)


def load(
    path: str | Path,
    overrides: list[str] = (),
    *,
    top_level: set[str] = frozenset(),
    stage_order: Callable[[str], int] = lambda name: 0,
) -> Layered:
    """Read ``path`` with its ``extends`` chain, then apply ``overrides``.

    Stages are finally ordered by ``stage_order`` (their canonical place in a pipeline),
    keeping the written order between stages of equal rank.
    """
    path = Path(path).resolve()
    problems: list[str] = []
    layered = _read_file(path, (), problems)
    return _finish(layered, overrides, problems, top_level, stage_order)


def _finish(layered: Layered, overrides, problems: list, top_level, stage_order) -> Layered:
    for text in overrides:
        stage_names = sorted(layered.data.get("stages", {}) or {}, key=stage_order)
        keypath, value = parse_override(text, set(top_level), stage_names)
        apply_override(layered, keypath, value, f"-o {text}")
    if problems:
        raise ConfigError(problems)
    stages = layered.data.get("stages")
    if isinstance(stages, dict):
        layered.data["stages"] = dict(sorted(stages.items(), key=lambda kv: stage_order(kv[0])))
    return layered


def stage_list(data: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``data`` whose ``stages`` mapping is the YAML list form again."""
    out = dict(data)
    if isinstance(out.get("stages"), dict):
        out["stages"] = [{name: cfg} for name, cfg in out["stages"].items()]
    return out
