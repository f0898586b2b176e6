"""Load pipeline YAML with line numbers, layer ``extends:`` fragments and apply overrides.

Layering follows OpenNMT-tf's rule: the rightmost fragment in ``extends`` takes priority,
then the file itself, then ``-o key.path=value`` overrides from the command line.
Mappings merge key by key. The ``stages`` list merges by stage name: a later layer that
names ``encode`` updates the earlier ``encode`` entry instead of adding a second one.
Every other list is replaced whole.

Locations are kept per key path (``("stages", "encode", "cell")``; stages are addressed by
name internally) so that errors can say ``file:line``.

Pipeline files are data only, and bounded. The YAML is read event by event (no recursion) into
plain data:

- Only the YAML core-schema types are read: strings, integers, floats, booleans, null, mappings and
  lists, with or without their standard tags (``!!str``, ``!!int``, ``!!float``, ``!!bool``,
  ``!!null``, ``!!map``, ``!!seq``). Every other tag (``!include``, ``!!python/object:...``,
  ``!!timestamp``, ``!!binary``, ``!!set``, ...) is refused, and an unquoted date stays a string.
  Numbers are read as PyYAML's SafeLoader reads them (YAML 1.1: ``yes``/``no`` are booleans, ``0x10``
  is 16), so valid files mean what they always meant.
- Anchors and aliases work, and so do merge keys (``<<: *defaults``), but the values that aliases
  produce are counted: past :data:`MAX_ALIAS_VALUES` the file is refused (a "billion laughs" file
  of a few hundred bytes would otherwise expand to billions of values).
- Lists and mappings nest at most :data:`MAX_DEPTH` levels (aliases included), a file holds at most
  :data:`MAX_VALUES` values and :data:`MAX_FILE_BYTES` bytes: a shipped pipeline is under 2 kB, a few hundred
  values and 6 levels deep.
- ``plugins:`` names Python modules that are imported (before the stages are ordered and validated)
  so that the stages, tasks and cells they register can be named in the same file. Nothing else in a
  pipeline file imports or runs code.
"""

from __future__ import annotations

import copy
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
)
from yaml.nodes import ScalarNode

from seqpipe.errors import ConfigError, printable

Path_ = tuple  # a key path such as ("stages", "encode", "units")

MAX_FILE_BYTES = 2_000_000
"""Largest pipeline file or fragment read, in bytes. Shipped pipelines are under 2 kB; a file this big is a
data file named by mistake (and reading it still takes well under two seconds)."""

MAX_DEPTH = 64
"""Deepest nesting of lists and mappings, aliases included (shipped pipelines nest 6 levels). Keeps every
later step (merging, validation, rendering) far from Python's recursion limit."""

MAX_VALUES = 100_000
"""Most values (scalars, lists and mappings) one file may hold. A pipeline holds a few hundred; the bound keeps
every later step (layering, validation, reporting) well under a second or two for any file that is read."""

MAX_ALIAS_VALUES = 10_000
"""Most values that aliases may produce in one file (each alias counts the values it repeats). A pipeline
holds a few hundred values in all, so 10,000 leaves room for any real use of aliases while a "billion
laughs" file is refused after 10,000 values, in milliseconds."""

_PYTHON_PARSER_MAX = 64_000
# Files up to this size are parsed by PyYAML's own parser (at most about 0.8 s), whose error messages
# are the ones seqpipe has always printed; larger ones by libyaml when PyYAML has it (20x faster).

_CORE = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, MAP, SEQ, MERGE = (_CORE + t for t in ("str", "int", "float", "bool", "null",
                                                                     "map", "seq", "merge"))


class _Resolver(yaml.resolver.Resolver):
    """PyYAML's implicit types (YAML 1.1 booleans, ints, floats, null, ``<<``) without the ones that are
    not data: an unquoted date stays a string, ``=`` is the string "="."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag in (BOOL, INT, FLOAT, NULL, MERGE)]
        for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
    }


_RESOLVER = _Resolver()
_NUMBERS = SafeConstructor()
_NULLS = ("", "~", "null", "Null", "NULL")


def _tag_text(tag: str) -> str:
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<an integer of {value.bit_length()} bits>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


_PLAIN_KEY = re.compile(r"[^.\[\]\s'\":\\]+")  # other keys are shown quoted: tags['a b'], ['x:y']


def _dotted(path: Path_) -> str:
    """``("stages", 2, "encode", "units")`` -> ``stages[2].encode.units`` (odd keys quoted: ``tags['a b']``)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_KEY.fullmatch(part) and part.isprintable():
            out += f".{part}" if out else part
        else:  # cut the key, not its quotes
            out += f"[{part[:37] + '...' if isinstance(part, str) and len(part) > 40 else part!r}]"
    return out or "<top>"


# -- reading YAML text into data -------------------------------------------------------------


class _Fatal(Exception):
    """A problem after which the rest of the text is not read."""

    def __init__(self, line: str):
        super().__init__(line)
        self.line = line


@dataclass
class _Anchor:
    value: Any
    count: int  # values in it, aliases expanded
    depth: int  # levels of lists and mappings in it
    span: tuple[int, int, int]  # its locations: (start, end) in _Reader.locations, and the length of its path
    locations: list | None = None  # (path relative to the anchored value, line), made when first aliased


_MERGE = object()  # the pending key is a merge key '<<' (a scalar read as one)
_REFUSED = object()  # a scalar that was refused (its problem is reported): None as a value, no key
_NO_KEY = object()  # a mapping waits for its next key
_BAD_KEY = object()  # the pending key was refused: its value is read and dropped


@dataclass
class _Frame:
    value: Any  # the dict or list being filled
    path: Path_
    record: bool  # record locations (False inside keys and refused values)
    anchor: str | None
    line: int
    start_values: int
    start_locs: int
    depth: int  # deepest level reached inside, relative to this frame
    key: Any = _NO_KEY
    merge_locs_start: int = 0
    merges: list = field(default_factory=list)  # (mapping, {key: [(relative path, line)]}) per merged mapping
    explicit: set = field(default_factory=set)


class _Reader:
    """Builds plain data from YAML events with the locations of every key path (see the module doc)."""

    def __init__(self, origin: str, problems: list[str], prefix: Path_ = ()):
        self.origin = origin  # "file" -> "file:line"; "-o key=value" -> "-o key=value"
        self.problems = problems
        self.prefix = prefix
        self.locations: list[tuple[Path_, str]] = []
        self.anchors: dict[str, _Anchor] = {}
        self.open_anchors: set[str] = set()
        self.values = 0
        self.expanded = 0

    def at(self, line: int) -> str:
        return f"{self.origin}:{line}" if not self.origin.startswith("-o ") else self.origin

    def problem(self, line: int, path: Path_, message: str) -> None:
        self.problems.append(f"{self.at(line)}: {_dotted(path)}: {message}")

    # scalars --------------------------------------------------------------------------------

    def scalar(self, event: ScalarEvent, path: Path_) -> Any:
        line = event.start_mark.line + 1
        tag = event.tag
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(ScalarNode, event.value, event.implicit)
        if tag == STR:
            return event.value
        if tag == MERGE:
            return _MERGE
        if tag not in (INT, FLOAT, BOOL, NULL):
            if tag in (MAP, SEQ):
                self.problem(line, path, f"cannot read {_short(event.value)} as {_tag_text(tag)}")
            else:
                self.problem(line, path, f"YAML tag '{_tag_text(tag)}' is not allowed (pipeline files are data only)")
            return _REFUSED
        try:
            if tag == NULL:
                if event.value not in _NULLS:
                    raise ValueError
                return None
            if tag == BOOL:
                return SafeConstructor.bool_values[event.value.lower()]
            node = ScalarNode(tag, event.value)
            return _NUMBERS.construct_yaml_int(node) if tag == INT else _NUMBERS.construct_yaml_float(node)
        except (ValueError, KeyError, IndexError):
            self.problem(line, path, f"cannot read {_short(event.value)} as {_tag_text(tag)}")
            return _REFUSED

    # the event loop -------------------------------------------------------------------------

    def read(self, events: Iterator) -> tuple[Any, int, bool]:
        """(the document's value, its first line, whether there was a document at all)."""
        stack: list[_Frame] = []
        result: list = []
        first_line = 1
        documents = 0
        for event in events:
            if isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _Fatal(f"{self.at(event.start_mark.line + 1)}: not valid YAML: a pipeline file holds "
                                 "one YAML document; found a second one ('---')")
                continue
            if not isinstance(event, (ScalarEvent, AliasEvent, CollectionStartEvent, MappingEndEvent,
                                      SequenceEndEvent)):
                continue
            line = event.start_mark.line + 1
            if self.values > MAX_VALUES:
                raise _Fatal(f"{self.at(line)}: the file holds more than {MAX_VALUES:,} values; pipeline files are "
                             "small (is this the right file?)")
            if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                frame = stack.pop()
                value = self.close(frame)
                self.deliver(stack, result, value, frame.line, frame.depth + 1)
                continue
            parent = stack[-1] if stack else None
            path, record = self.child_path(parent)
            if parent is None:
                first_line = line
            if isinstance(event, ScalarEvent):
                value = self.scalar(event, path)
                self.values += 1
                if event.anchor:
                    self.anchors[event.anchor] = _Anchor(_plain(value), 1, 0, (0, 0, 0), [])
                self.deliver(stack, result, value, line, 0)
            elif isinstance(event, AliasEvent):
                self.deliver(stack, result, *self.alias(event, path, record, len(stack)))
            else:
                depth = len(stack) + 1
                if depth > MAX_DEPTH:
                    raise _Fatal(f"{self.at(line)}: lists and mappings are nested more than {MAX_DEPTH} levels "
                                 "deep; pipeline files need far fewer")
                is_map = isinstance(event, MappingStartEvent)
                if event.tag not in (None, "!", MAP if is_map else SEQ):
                    what = "a mapping" if is_map else "a list"
                    if event.tag in (STR, INT, FLOAT, BOOL, NULL, MAP, SEQ):
                        self.problem(line, path, f"cannot read {what} as {_tag_text(event.tag)}")
                    else:
                        self.problem(line, path,
                                     f"YAML tag '{_tag_text(event.tag)}' is not allowed (pipeline files are data only)")
                if event.anchor:
                    self.open_anchors.add(event.anchor)
                stack.append(_Frame({} if is_map else [], path, record, event.anchor, line, self.values,
                                    len(self.locations), 0))
                self.values += 1
        if not documents or not result:
            return None, first_line, False
        return result[0], first_line, True

    def child_path(self, parent: _Frame | None) -> tuple[Path_, bool]:
        """The key path of the next value in ``parent`` and whether its locations are recorded."""
        if parent is None:
            return self.prefix, True
        if isinstance(parent.value, list):
            return parent.path + (len(parent.value),), parent.record
        if parent.key is _NO_KEY:  # the value is a key
            return parent.path, False
        if parent.key is _MERGE:  # kept apart until the mapping ends: its own keys win (see close)
            return parent.path + ("<<",), parent.record
        if parent.key is _BAD_KEY:
            return parent.path, False
        return parent.path + (parent.key,), parent.record

    def alias(self, event: AliasEvent, path: Path_, record: bool, depth: int) -> tuple[Any, int, int]:
        line = event.start_mark.line + 1
        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            if event.anchor in self.open_anchors:
                raise _Fatal(f"{self.at(line)}: {_dotted(path)}: alias *{event.anchor} is inside the value it "
                             "names (a recursive alias); pipeline files are finite data")
            raise _Fatal(f"{self.at(line)}: not valid YAML: found undefined alias '{event.anchor}'")
        self.expanded += anchor.count
        if self.expanded > MAX_ALIAS_VALUES:
            raise _Fatal(f"{self.at(line)}: aliases expand to more than {MAX_ALIAS_VALUES:,} values; pipeline "
                         "files are small (use fewer or smaller aliases)")
        if depth + anchor.depth > MAX_DEPTH:
            raise _Fatal(f"{self.at(line)}: lists and mappings are nested more than {MAX_DEPTH} levels deep "
                         "(with aliases expanded); pipeline files need far fewer")
        self.values += anchor.count
        if record:
            if anchor.locations is None:
                start, end, n = anchor.span
                anchor.locations = [(p[n:], loc) for p, loc in self.locations[start:end]]
            self.locations += [(path + rel, loc) for rel, loc in anchor.locations]
        return copy.deepcopy(anchor.value), line, anchor.depth

    def deliver(self, stack: list[_Frame], result: list, value: Any, line: int, depth: int) -> None:
        """Put a finished value into the innermost open list or mapping (or make it the document)."""
        frame = stack[-1] if stack else None
        if frame is not None and frame.depth < depth:
            frame.depth = depth
        if frame is None or isinstance(frame.value, list) or frame.key is not _NO_KEY:
            value = _plain(value)  # a refused scalar is None, '<<' outside a key is the string '<<'
        if frame is None:
            result.append(value)
            return
        if isinstance(frame.value, list):
            if frame.record:
                self.locations.append((frame.path + (len(frame.value),), self.at(line)))
            frame.value.append(value)
            return
        if frame.key is _NO_KEY:
            self.take_key(frame, value, line)
            return
        if frame.key is _MERGE:
            self.take_merge(frame, value, line)
        elif frame.key is not _BAD_KEY:
            frame.value[frame.key] = value
        frame.key = _NO_KEY

    def take_key(self, frame: _Frame, key: Any, line: int) -> None:
        if key is _MERGE:
            frame.key = _MERGE
            frame.merge_locs_start = len(self.locations)
            return
        if not isinstance(key, str):
            if key is not _REFUSED:
                self.problem(line, frame.path, f"keys must be strings; got {_short(key)}")
            frame.key = _BAD_KEY
            return
        if key in frame.explicit:
            self.problem(line, frame.path + (key,), "duplicate key")
        frame.explicit.add(key)
        frame.key = key
        if frame.record:
            self.locations.append((frame.path + (key,), self.at(line)))

    def take_merge(self, frame: _Frame, value: Any, line: int) -> None:
        """``<<: *defaults`` or ``<<: [*a, *b]``: the keys of those mappings, unless the mapping sets them."""
        locs = self.locations[frame.merge_locs_start:]  # recorded under <mapping>.<<
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(s, dict) for s in sources):
            self.problem(line, frame.path + ("<<",), "a merge key '<<' takes a mapping or a list of mappings "
                                                     f"(usually aliases); got {_short(value)}")
            return
        # the locations of each source's keys, by key: {source index: {key: [(path below the mapping, line)]}}
        base, in_list = len(frame.path) + 1, isinstance(value, list)
        by_source: dict[int, dict] = {}
        for p, loc in locs:
            rel = p[base + 1:] if in_list else p[base:]
            if rel:
                by_source.setdefault(p[base] if in_list else 0, {}).setdefault(rel[0], []).append((rel, loc))
        for i, source in enumerate(sources):
            frame.merges.append((source, by_source.get(i, {})))

    def close(self, frame: _Frame) -> Any:
        value = frame.value
        if isinstance(value, dict) and frame.merges:
            taken = set(value)
            for source, locs in frame.merges:
                for key, item in source.items():
                    if key in taken:
                        continue
                    taken.add(key)
                    value[key] = item
                    if frame.record:
                        self.locations += [(frame.path + rel, loc) for rel, loc in locs.get(key, ())]
        if frame.anchor:
            self.open_anchors.discard(frame.anchor)
            span = (frame.start_locs, len(self.locations), len(frame.path))
            self.anchors[frame.anchor] = _Anchor(value, self.values - frame.start_values, frame.depth + 1, span,
                                                 None if frame.record else [])
        return value


def _plain(value: Any) -> Any:
    return None if value is _REFUSED else "<<" if value is _MERGE else value


def _events(text: str, fast: bool) -> Iterator:
    loader = yaml.CSafeLoader if fast else yaml.SafeLoader
    return yaml.parse(text, Loader=loader)


def _yaml_error(exc: yaml.YAMLError, origin: str, text: str) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        line = mark.line + 1
    elif isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
    else:
        line = None
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        reason = f"unacceptable character #x{ord(char):04x}: {exc.reason}"
    else:
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = origin if origin.startswith("-o ") or line is None else f"{origin}:{line}"
    return f"{where}: not valid YAML: {reason}"


def read_yaml(text: str, origin: str, problems: list[str], prefix: Path_ = ()) -> tuple[Any, dict[Path_, str], int]:
    """Read YAML ``text`` (from ``origin``, a file or ``-o key=value``) as data only, within the limits above.

    Returns ``(value, {key path: location}, the line of the top value)``; an empty text reads as None.
    Problems that leave the rest readable (a refused tag, a duplicate key) are appended to ``problems``;
    the others raise :class:`ConfigError`. Key paths start with ``prefix``.
    """
    fast = len(text) > _PYTHON_PARSER_MAX and getattr(yaml, "__with_libyaml__", False)
    if not fast:  # PyYAML's reader checks this up front; say it the same way for every origin
        bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
        if bad:
            exc = yaml.reader.ReaderError("<text>", bad.start(), ord(bad.group()), "unicode",
                                          "special characters are not allowed")
            raise ConfigError([_yaml_error(exc, origin, text)])
    mine: list[str] = []
    reader = _Reader(origin, mine, prefix)
    try:
        value, line, _ = reader.read(_events(text, fast))
    except _Fatal as exc:
        raise ConfigError([exc.line]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_error(exc, origin, text)]) from None
    except RecursionError:  # not expected: reading is iterative and the depth bounded; never a traceback
        raise ConfigError([f"{origin}: lists and mappings are nested too deep; pipeline files need far "
                           "fewer levels"]) from None
    problems += mine
    return value, dict(reader.locations), line


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
    return _finish(layered, overrides, problems, top_level, stage_order)


def load(
    path: str | Path,
    overrides: list[str] = (),
    *,
    top_level: set[str] = frozenset(),
    stage_order: Callable[[str], int] = lambda name: 0,
) -> Layered:
    """Read ``path`` with its ``extends`` chain, then import ``plugins`` and apply ``overrides``.

    Stages are finally ordered by ``stage_order`` (their canonical place in a pipeline),
    keeping the written order between stages of equal rank.
    """
    try:
        path = Path(path).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConfigError([f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})"]) from None
    problems: list[str] = []
    layered = _read_file(path, (), problems)
    if layered is None:
        raise ConfigError(problems)
    return _finish(layered, overrides, problems, top_level, stage_order)


def _finish(layered: Layered, overrides, problems: list, top_level, stage_order) -> Layered:
    # `plugins` (with its overrides) first: `-o stages[i]...` and the stage order count the plugins' stages
    first = [text for text in overrides if (m := _SEGMENT.match(text.split("=", 1)[0].strip())) and
             m.group(1) == "plugins"]
    _apply_overrides(layered, first, problems, top_level, stage_order)
    import_plugins(layered, problems)
    _apply_overrides(layered, [text for text in overrides if text not in first], problems, top_level, stage_order)
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    stages = layered.data.get("stages")
    if isinstance(stages, dict):
        layered.data["stages"] = dict(sorted(stages.items(), key=lambda kv: stage_order(kv[0])))
    return layered


def _apply_overrides(layered: Layered, overrides, problems: list, top_level, stage_order) -> None:
    for text in overrides:
        stages = layered.data.get("stages")
        names = list(stages) if isinstance(stages, dict) else [next(iter(e)) for e in stages if isinstance(e, dict)
                                                               and len(e) == 1] if isinstance(stages, list) else []
        stage_names = sorted((n for n in names if isinstance(n, str)), key=stage_order)
        try:
            keypath, value = parse_override(text, set(top_level), stage_names)
            apply_override(layered, keypath, value, override_origin(text))
        except ConfigError as exc:
            problems += exc.problems


def stage_list(data: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``data`` whose ``stages`` mapping is the YAML list form again."""
    out = dict(data)
    if isinstance(out.get("stages"), dict):
        out["stages"] = [{name: cfg} for name, cfg in out["stages"].items()]
    return out
