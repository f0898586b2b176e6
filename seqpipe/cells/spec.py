"""Cell specs as pipelines write them: a name (``cell: lstm``) or a mapping (``cell: {kind: lstm, peepholes: true}``).

:func:`parse_cell_spec` checks a spec against ``CELLS`` and the kind's ``Options`` and returns its normalised
form: the bare name when every option has its default (so ``cell: lstm`` and ``cell: {kind: lstm}`` are the same
config, logged and cached as before), else the mapping with every option filled in. Problems are one line each,
with the valid names and a "did you mean". :data:`CellSpec` is the pydantic field type of every ``cell`` key.
No TensorFlow here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic_core import PydanticCustomError, core_schema

from seqpipe.cells.base import CELLS, Cell
from seqpipe.registry import Registry, did_you_mean

MAPPING_FORM = "{kind: name, option: value, ...}"


class CellSpecError(ValueError):
    """A cell spec that names no registered kind or has bad options (the message is one line)."""

    def __init__(self, message: str, unknown_name: bool = False):
        super().__init__(message)
        self.message, self.unknown_name = message, unknown_name


def _unknown_kind(value: Any, registry: Registry) -> CellSpecError:
    names = registry.names()
    return CellSpecError(f"must be one of {', '.join(names)}; got {value!r}{did_you_mean(str(value), names)}",
                         unknown_name=True)


def _option_problems(kind: type[Cell], errors: list[dict]) -> list[str]:
    """One message per bad option. Pydantic reports each member of a union (``float | list[float]``) that
    failed; the most specific one (deepest location, e.g. a bad list item) speaks for the option."""
    fields = list(kind.Options.model_fields)
    unknown, by_option = [], {}
    for error in errors:
        name = str(error["loc"][0]) if error["loc"] else "?"
        if error["type"] == "extra_forbidden":
            if not fields:
                unknown.append(f"unknown option '{name}' for cell {kind.name}; it has no options")
            else:
                unknown.append(f"unknown option '{name}' for cell {kind.name}; expected one of {', '.join(fields)}"
                               f"{did_you_mean(name, fields)}")
        elif name not in by_option or len(error["loc"]) > len(by_option[name]["loc"]):
            by_option[name] = error
    problems = []
    for name, error in by_option.items():
        where = name + "".join(f"[{p}]" for p in error["loc"][1:] if isinstance(p, int))  # list items, not unions
        message = re.sub(r"^(Value|Assertion) error, ", "", error["msg"])
        message = re.sub(r"^Input should be", "must be", message)
        value = error.get("input")
        got = f"; got {value!r}" if not isinstance(value, (dict, list)) and "; got " not in message else ""
        problems.append(f"option '{where}' of cell {kind.name}: {message}{got}")
    return unknown + problems


def parse_cell_spec(spec: Any, registry: Registry = CELLS) -> tuple[type[Cell], dict[str, Any]]:
    """``spec`` (a name, a ``{kind, options...}`` mapping or a :class:`Cell`) -> (its kind, its validated options as
    plain data, every option filled in); :class:`CellSpecError` when it is not a valid spec."""
    if isinstance(spec, Cell):
        return type(spec), spec.options.model_dump(mode="json")
    if isinstance(spec, str):
        name, options = spec, {}
    elif isinstance(spec, Mapping):
        if "kind" not in spec:
            raise CellSpecError(f"a cell mapping needs a 'kind' key, one of {', '.join(registry.names())} "
                                f"(the form is {MAPPING_FORM})")
        name, options = spec["kind"], {k: v for k, v in spec.items() if k != "kind"}
    else:
        raise CellSpecError(f"must be a cell name or a mapping {MAPPING_FORM}")
    if not isinstance(name, str) or name not in registry:
        raise _unknown_kind(name, registry)
    kind = registry.get(name)
    try:
        validated = kind.Options(**options)
    except ValidationError as exc:
        raise CellSpecError("; ".join(_option_problems(kind, exc.errors()))) from None
    except TypeError:  # keys that are not strings
        raise CellSpecError(f"option names of cell {name} must be strings; got {list(options)!r}") from None
    return kind, validated.model_dump(mode="json")


def normalize_cell_spec(spec: Any, registry: Registry = CELLS) -> str | dict[str, Any]:
    """The normalised form of ``spec``: its name when every option has its default, else ``{kind, every option}``."""
    kind, options = parse_cell_spec(spec, registry)
    return kind(**options).spec


class CellSpecField:
    """Pydantic marker of a ``cell`` key: validates and normalises a spec (see :func:`parse_cell_spec`).

    A bad spec is one message at the key (``stages[2].encode.cell: unknown option 'peephole' for cell lstm;
    expected one of forget_bias, peepholes (did you mean 'peepholes'?)``). The JSON Schema accepts a registered
    name or, for each kind, a mapping with its options. ``registry`` lists the names in the config reference.
    """

    def __init__(self, registry: Registry = CELLS):
        self.registry = registry

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler):
        registry = self.registry

        def check(value: Any) -> str | dict[str, Any]:
            try:
                return normalize_cell_spec(value, registry)
            except CellSpecError as exc:
                kind = "unknown_name" if exc.unknown_name else "cell_spec"
                raise PydanticCustomError(kind, "{message}", {"message": exc.message}) from None

        return core_schema.no_info_plain_validator_function(check)

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler):
        mappings = []
        for name in self.registry.names():
            options = self.registry.get(name).Options.model_json_schema()
            properties = {"kind": {"const": name}, **options.get("properties", {})}
            for prop in properties.values():
                prop.pop("title", None)
            mappings.append({"type": "object", "properties": properties, "required": ["kind"],
                             "additionalProperties": False})
        return {"anyOf": [{"type": "string", "enum": self.registry.names()}, {"oneOf": mappings}]}


CellSpec = Annotated[str | dict[str, Any], CellSpecField(CELLS)]
"""The type of a ``cell`` key in a stage config: a registered name or ``{kind: name, option: value, ...}``."""
