"""Load pipeline YAML with line numbers, layer ``extends:`` fragments and apply overrides.

Layering follows OpenNMT-tf's rule: the rightmost fragment in ``extends`` takes priority,
then the file itself, then ``-o key.path=value`` overrides from the command line.
Mappings merge key by key. The ``stages`` list merges by stage name: a later layer that
names ``encode`` updates the earlier ``encode`` entry instead of adding a second one.
Every other list is replaced whole.

Locations are kept per key path (``("stages", "encode", "cell")``; stages are addressed by
name internally) so that errors can say ``file:line``.

Pipeline files are data only, and bounded: a file or fragment is read up to :data:`MAX_FILE_BYTES` bytes,
and its text by :func:`seqpipe.config.yaml_reader.read_yaml` (core-schema types only; aliases, nesting and
the number of values bounded; see there). ``plugins:`` names Python modules that are imported (before the
stages are ordered and validated) so that the stages, tasks and cells they register can be named in the
same file. Nothing else in a pipeline file imports or runs code.
"""

from __future__ import annotations

import copy
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from seqpipe.config.keypaths import Path_, _dotted, _short
from seqpipe.config.yaml_reader import MAX_DEPTH, read_yaml
from seqpipe.errors import ConfigError, printable

Rewrite = Callable[[Path_, Any], Any]  # the value an override sets, from its key path and typed value
MAX_FILE_BYTES = 2_000_000
"""Largest pipeline file or fragment read, in bytes. Shipped pipelines are under 2 kB; a file this big is a
data file named by mistake (and reading it still takes well under two seconds)."""


@dataclass
class Layered:
    """A merged configuration: plain data plus where each key path was last set."""

    data: dict[str, Any]
    locations: dict[Path_, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def where(self, path: Path_) -> str:
        """The location of ``path`` or of its nearest ancestor that has one (the top mapping's line last)."""
        for cut in range(len(path), -1, -1):
            loc = self.locations.get(tuple(path[:cut]))
            if loc:
                return loc
        return str(self.files[-1]) if self.files else "<config>"


# -- files and fragments ---------------------------------------------------------------------


@dataclass
class _Entry:
    """The ``extends`` entry that names a fragment: where it is written and what it says."""

    where: str
    key: str
    text: str


def _read_file(path: Path, seen: tuple[Path, ...], problems: list, entry: _Entry | None = None) -> Layered | None:
    """Read one file and (recursively) the fragments it extends.

    Problems with the file as a whole (missing, a folder, too big, a cycle) are reported at the ``extends``
    entry that names it (``entry``), or raised for the pipeline file itself. Returns None when the file
    could not be read (its problems are in ``problems``).
    """

    def refuse(message: str) -> None:
        if entry is None:
            raise ConfigError([f"{path}: {message}"])
        problems.append(f"{entry.where}: {entry.key}: {message}")

    if path in seen:
        return refuse("cycle " + " -> ".join(str(p) for p in seen + (path,)))
    shown = entry.text if entry else str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return refuse(f"file not found: {shown}" + (f" (looked in {path.parent})" if entry else ""))
    except IsADirectoryError:
        return refuse(f"is a folder, not a YAML file: {shown}")
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        return refuse(f"cannot read {shown} ({getattr(exc, 'strerror', None) or exc})")
    if len(raw) > MAX_FILE_BYTES:
        return refuse(f"{entry.text if entry else 'the file'} is larger than {MAX_FILE_BYTES // 1_000_000} MB; "
                      "pipeline files are small (is this the right file?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problems.append(f"{path}:{line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8")
        return None
    try:
        data, locs, line = read_yaml(text, str(path), problems)
    except ConfigError as exc:
        problems += exc.problems
        return None
    if data is None:  # nothing but comments, or an empty document
        data = {}
    if not isinstance(data, dict):
        problems.append(f"{path}:{line}: the file must hold a mapping (key: value lines); got {type(data).__name__}")
        return None
    locs[()] = f"{path}:{line}"
    return _with_extends(data, locs, path, path.parent, seen, problems)


DICT_ORIGIN = Path("<dict>")  # where the keys of a config given as data (not a file) come from


def _locate(value: Any, path: Path_, locs: dict, problems: list) -> None:
    """Record ``<dict>`` as the location of every key path of plain data (refusing data nested too deep)."""
    if len(path) > MAX_DEPTH and isinstance(value, (dict, list)):
        raise ConfigError([f"{DICT_ORIGIN}: {_dotted(path[:MAX_DEPTH])}: lists and mappings are nested more than "
                           f"{MAX_DEPTH} levels deep (or hold themselves); pipeline configs need far fewer"])
    if isinstance(value, dict):
        for key, item in value.items():
            locs[path + (key,)] = str(DICT_ORIGIN)
            _locate(item, path + (key,), locs, problems)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            locs[path + (i,)] = str(DICT_ORIGIN)
            _locate(item, path + (i,), locs, problems)


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
                            f"got {_short(entry, 200)}")
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


def _with_extends(data: dict, locs: dict, origin: Path, base: Path, seen: tuple[Path, ...], problems: list) -> Layered:
    """``data`` (read from ``origin``) layered over the fragments it extends, found relative to ``base``."""
    path = origin
    if "stages" in data:
        data["stages"] = _stages_by_name(data["stages"], str(path), locs, problems)

    extends = data.pop("extends", [])
    where = locs.get(("extends",), str(path))
    if isinstance(extends, str):
        extends = [extends]
    if not isinstance(extends, list):
        problems.append(f"{where}: extends: must be a list of file paths; got {_short(extends, 200)}")
        extends = []
    merged = Layered(data={}, files=[])
    for i, rel in enumerate(extends):
        at = locs.get(("extends", i), where)
        if not isinstance(rel, str) or not rel.strip() or "\x00" in rel:
            problems.append(f"{at}: extends[{i}]: must be the path of a YAML file; got {_short(rel)}")
            continue
        try:
            target = (base / rel).resolve()
        except (OSError, RuntimeError, ValueError) as exc:
            problems.append(f"{at}: extends[{i}]: cannot read {rel} ({getattr(exc, 'strerror', None) or exc})")
            continue
        fragment = _read_file(target, seen + (path,), problems, _Entry(at, f"extends[{i}]", rel))
        if fragment is not None:
            merged = _layer(merged, fragment)
    return _layer(merged, Layered(data=data, locations=locs, files=[path]))


def _layer(base: Layered, over: Layered) -> Layered:
    locations = dict(base.locations)
    locations.update(over.locations)
    return Layered(_merge(base.data, over.data), locations, base.files + over.files)


# -- overrides --------------------------------------------------------------------------------

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_override(text: str, top_level: set[str], stage_names: list[str]) -> tuple[Path_, Any]:
    """Parse ``key.path=value``; the value is read as YAML (``2`` -> int, ``[a, b]`` -> list).

    A path may start with ``stages.NAME``, ``stages[i]``, or just a stage name
    (``train.epochs=2``) when that name is not a top-level key. The value is read with the rules of
    pipeline files (data only, bounded); text that is not valid YAML is kept as a string.
    """
    where = override_origin(text)
    if "=" not in text:
        raise ConfigError([f"{where}: expected key.path=value"])
    key, raw = text.split("=", 1)
    parts: list[Any] = []
    for m in _SEGMENT.finditer(key.strip()):
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    if not parts or "".join(str(p) for p in parts) == "":
        raise ConfigError([f"{where}: empty key path"])
    if parts[0] == "extends":
        raise ConfigError([f"{where}: extends: cannot be overridden; fragments are layered from the files "
                           "(override the values they set instead)"])
    if parts[0] == "stages" and len(parts) > 1 and isinstance(parts[1], int):
        if parts[1] >= len(stage_names):
            raise ConfigError([f"{where}: stages[{parts[1]}]: the pipeline has {len(stage_names)} stages"])
        parts[1] = stage_names[parts[1]]
    elif parts[0] not in top_level and parts[0] != "stages" and parts[0] in stage_names:
        parts.insert(0, "stages")
    if not raw.strip():
        return tuple(parts), ""
    problems: list[str] = []
    try:
        value, _, _ = read_yaml(raw, where, problems, tuple(parts))
    except ConfigError as exc:
        if not all(": not valid YAML: " in line for line in exc.problems):
            raise
        value = raw
    if problems:
        raise ConfigError(problems)
    return tuple(parts), value


def override_origin(text: str) -> str:
    """Where an override's problems are reported: ``-o key=value`` (long values cut, odd characters escaped)."""
    shown = f"-o {text}" if len(text) <= 100 else f"-o {text[:80]}... ({len(text):,} characters)"
    return printable(shown)


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


# -- plugins ----------------------------------------------------------------------------------


def import_plugins(layered: Layered, problems: list[str]) -> list[str]:
    """Import the modules named by ``plugins:`` (each once); return the names imported.

    A module that cannot be imported is one problem at its entry, with the exception's type and message.
    """
    from seqpipe.schema import module_name_problem

    plugins = layered.data.get("plugins")
    if plugins is None:
        return []
    where = layered.where(("plugins",))
    if not isinstance(plugins, list):
        problems.append(f"{where}: plugins: must be a list of Python module names; got {_short(plugins)}")
        return []
    imported = []
    for i, name in enumerate(plugins):
        at = layered.where(("plugins", i))
        problem = module_name_problem(name)
        if problem:
            problems.append(f"{at}: plugins[{i}]: {problem}; got {_short(name)}")
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # the user's module: any failure is a problem of the pipeline, never a crash
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            problems.append(f"{at}: plugins[{i}]: cannot import '{name}' ({type(exc).__name__}"
                            f"{': ' + reason if reason else ''})")
            continue
        imported.append(name)
    return imported


# -- entry points -----------------------------------------------------------------------------


def load_mapping(
    data: dict[str, Any],
    base_dir: str | Path,
    overrides: list[str] = (),
    *,
    top_level: set[str] = frozenset(),
    stage_order: Callable[[str], int] = lambda name: 0,
    rewrite: Rewrite | None = None,
) -> Layered:
    """Like :func:`load` for a config given as data: ``extends`` are found relative to ``base_dir`` and
    problems are located at ``<dict>`` (with their key path)."""
    if not isinstance(data, dict):
        raise ConfigError([f"{DICT_ORIGIN}: the config must be a mapping; got {type(data).__name__}"])
    problems: list[str] = []
    locs: dict[Path_, str] = {}
    _locate(data, (), locs, problems)
    data = copy.deepcopy(data)
    layered = _with_extends(data, locs, DICT_ORIGIN, Path(base_dir).resolve(), (), problems)
    return _finish(layered, overrides, problems, top_level, stage_order, rewrite)


def load(
    path: str | Path,
    overrides: list[str] = (),
    *,
    top_level: set[str] = frozenset(),
    stage_order: Callable[[str], int] = lambda name: 0,
    rewrite: Rewrite | None = None,
) -> Layered:
    """Read ``path`` with its ``extends`` chain, then import ``plugins`` and apply ``overrides``.

    Stages are finally ordered by ``stage_order`` (their canonical place in a pipeline),
    keeping the written order between stages of equal rank. ``rewrite(key path, value)`` gives the
    value an override sets (the config makes relative paths absolute from the working directory).
    """
    try:
        path = Path(path).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConfigError([f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})"]) from None
    problems: list[str] = []
    layered = _read_file(path, (), problems)
    if layered is None:
        raise ConfigError(problems)
    return _finish(layered, overrides, problems, top_level, stage_order, rewrite)


def _finish(layered: Layered, overrides, problems: list, top_level, stage_order, rewrite=None) -> Layered:
    # `plugins` (with its overrides) first: `-o stages[i]...` and the stage order count the plugins' stages
    first = [text for text in overrides if (m := _SEGMENT.match(text.split("=", 1)[0].strip())) and
             m.group(1) == "plugins"]
    _apply_overrides(layered, first, problems, top_level, stage_order, rewrite)
    import_plugins(layered, problems)
    _apply_overrides(layered, [text for text in overrides if text not in first], problems, top_level, stage_order,
                     rewrite)
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    stages = layered.data.get("stages")
    if isinstance(stages, dict):
        layered.data["stages"] = dict(sorted(stages.items(), key=lambda kv: stage_order(kv[0])))
    return layered


def _apply_overrides(layered: Layered, overrides, problems: list, top_level, stage_order, rewrite=None) -> None:
    for text in overrides:
        stages = layered.data.get("stages")
        names = list(stages) if isinstance(stages, dict) else [next(iter(e)) for e in stages if isinstance(e, dict)
                                                               and len(e) == 1] if isinstance(stages, list) else []
        stage_names = sorted((n for n in names if isinstance(n, str)), key=stage_order)
        try:
            keypath, value = parse_override(text, set(top_level), stage_names)
            value = rewrite(keypath, value) if rewrite is not None else value
            apply_override(layered, keypath, value, override_origin(text))
        except ConfigError as exc:
            problems += exc.problems


def stage_list(data: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``data`` whose ``stages`` mapping is the YAML list form again."""
    out = dict(data)
    if isinstance(out.get("stages"), dict):
        out["stages"] = [{name: cfg} for name, cfg in out["stages"].items()]
    return out
