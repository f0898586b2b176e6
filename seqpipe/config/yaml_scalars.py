"""Which scalars and tags a pipeline file may hold: the YAML core schema, read as PyYAML's SafeLoader reads it.

Strings, integers, floats, booleans and null, with or without their standard tags (``!!str``, ``!!int``,
``!!float``, ``!!bool``, ``!!null``; ``!!map`` and ``!!seq`` on lists and mappings). Every other tag is refused
(pipeline files are data only), and an unquoted date stays a string. Used by :mod:`seqpipe.config.yaml_reader`.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import ScalarEvent
from yaml.nodes import ScalarNode

from seqpipe.config.keypaths import _short

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


_MERGE = object()  # the pending key is a merge key '<<' (a scalar read as one)
_REFUSED = object()  # a scalar that was refused (its problem is reported): None as a value, no key


def _plain(value: Any) -> Any:
    return None if value is _REFUSED else "<<" if value is _MERGE else value


def _not_allowed(tag: str) -> str:
    return f"YAML tag '{_tag_text(tag)}' is not allowed (pipeline files are data only)"


def read_scalar(event: ScalarEvent) -> tuple[Any, str | None]:
    """``(value, None)`` for a scalar of the core schema (``_MERGE`` for a merge key ``<<``), else
    ``(_REFUSED, the problem)``: a tag that is not data, or text that its tag cannot read."""
    tag = event.tag
    if tag is None or tag == "!":
        tag = _RESOLVER.resolve(ScalarNode, event.value, event.implicit)
    if tag == STR:
        return event.value, None
    if tag == MERGE:
        return _MERGE, None
    if tag not in (INT, FLOAT, BOOL, NULL):
        if tag in (MAP, SEQ):
            return _REFUSED, f"cannot read {_short(event.value)} as {_tag_text(tag)}"
        return _REFUSED, _not_allowed(tag)
    try:
        if tag == NULL:
            if event.value not in _NULLS:
                raise ValueError
            return None, None
        if tag == BOOL:
            return SafeConstructor.bool_values[event.value.lower()], None
        node = ScalarNode(tag, event.value)
        return (_NUMBERS.construct_yaml_int(node) if tag == INT else _NUMBERS.construct_yaml_float(node)), None
    except (ValueError, KeyError, IndexError):
        return _REFUSED, f"cannot read {_short(event.value)} as {_tag_text(tag)}"


def collection_tag_problem(tag: str | None, is_map: bool) -> str | None:
    """Why a mapping (``is_map``) or a list cannot have the tag ``tag``; None when it may (no tag, ``!``, its own)."""
    if tag in (None, "!", MAP if is_map else SEQ):
        return None
    what = "a mapping" if is_map else "a list"
    if tag in (STR, INT, FLOAT, BOOL, NULL, MAP, SEQ):
        return f"cannot read {what} as {_tag_text(tag)}"
    return _not_allowed(tag)
