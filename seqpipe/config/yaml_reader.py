"""Read pipeline YAML text into plain data with the location of every key path (:func:`read_yaml`).

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
  :data:`MAX_VALUES` values (and a file at most :data:`~seqpipe.config.loader.MAX_FILE_BYTES` bytes): a
  shipped pipeline is under 2 kB, a few hundred values and 6 levels deep.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterator

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
)

from seqpipe.config.keypaths import Path_, _dotted, _short
from seqpipe.config.yaml_scalars import _MERGE, _REFUSED, _plain, collection_tag_problem, read_scalar
from seqpipe.errors import ConfigError

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
        value, problem = read_scalar(event)
        if problem is not None:
            self.problem(event.start_mark.line + 1, path, problem)
        return value

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
                problem = collection_tag_problem(event.tag, is_map)
                if problem is not None:
                    self.problem(line, path, problem)
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
