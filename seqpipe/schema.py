"""Schema building blocks shared by every component's config class.

Component config classes live next to their component and derive from :class:`Schema`,
so the place that consumes a YAML key is one hop from its schema.

Besides :class:`Schema` (the strict base) and :class:`RegistryName`, this module holds the
string types of the pipeline schema: :data:`NonEmptyStr`, :data:`NameStr` (names that become
folder and run names), :data:`LabelStr` (names shown to people, spaces allowed),
:data:`PathStr` (relative to the pipeline file), :data:`CwdPathStr` (relative to the working directory)
and :data:`ModuleName` (the entries of ``plugins:``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Callable, ClassVar, Iterator

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from seqpipe.registry import Registry, did_you_mean


class Schema(BaseModel):
    """Strict base: unknown keys are errors, values are validated on assignment, and numbers
    must be finite (``.inf`` and ``.nan`` are refused wherever a number is meant)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class KindSchema(Schema):
    """A component config whose ``kind`` key chooses the implementation (a recurrent or a Transformer encoder).

    ``KIND_KEYS`` maps each kind to the keys only it reads; the other keys are every kind's. A key of another
    kind given in a pipeline is not read: ``seqpipe validate`` and ``seqpipe run`` say so in a warning naming its
    file and line (:meth:`kind_problems`, :func:`seqpipe.config.unread.unread_keys`). It is not an error, because a
    pipeline that extends a recurrent one and sets ``kind: transformer`` inherits keys it cannot unset.
    """

    KIND_KEYS: ClassVar[dict[str, tuple[str, ...]]] = {}

    def unread_keys(self) -> tuple[str, ...]:
        """The keys the chosen kind does not read (its value is whatever the default is)."""
        return tuple(key for kind, keys in self.KIND_KEYS.items() if kind != self.kind for key in keys)

    def kind_problems(self, path: tuple) -> Iterator[tuple[tuple, str]]:
        """``(key path, message)`` for each key given that the chosen kind does not read."""
        owner = {key: kind for kind, keys in self.KIND_KEYS.items() for key in keys}
        for key in self.unread_keys():
            if key in self.model_fields_set:
                yield (path + (key,), f"not read by kind '{self.kind}' (it is a key of kind '{owner[key]}'), so it "
                                      "changes nothing here")


class RegistryName:
    """A string that must name an entry of ``registry``.

    Validation reports the valid names and a "did you mean"; the JSON Schema lists the
    names as an enum, read from the registry when the schema is generated.
    """

    def __init__(self, registry: Registry):
        self.registry = registry

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler):
        registry = self.registry

        def check(value: str) -> str:
            if value not in registry:
                names = registry.names()
                raise PydanticCustomError(
                    "unknown_name",
                    "must be one of {choices}; got {value}{hint}",
                    {
                        "choices": ", ".join(names),
                        "value": repr(value),
                        "hint": did_you_mean(value, names),
                    },
                )
            return value

        return core_schema.no_info_after_validator_function(check, core_schema.str_schema())

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler):
        return {"type": "string", "enum": self.registry.names()}


# -- checked strings ---------------------------------------------------------------------
#
# Each check raises a PydanticCustomError whose message says what is expected; the report
# adds "; got <value>". The JSON Schema gets the matching minLength / pattern for editors.

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
NAME_CHARS = "letters A-Z a-z, digits 0-9, '.', '_' and '-'"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NAME_MAX = 100
MODULE_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _fail(kind: str, message: str):
    raise PydanticCustomError(kind, message)


def _not_empty(value: str) -> str:
    if not value.strip():
        _fail("empty_string", "must not be empty")
    return value


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        _fail("control_characters", "must not contain control characters (tab, newline, ...)")
    return value


def _trimmed(value: str) -> str:
    if value != value.strip():
        _fail("outer_spaces", "must not start or end with a space")
    return value


def name_problem(value: str) -> str | None:
    """Why ``value`` cannot be a pipeline or run name (None when it can)."""
    if not value.strip():
        return "must not be empty"
    if len(value) > NAME_MAX or not NAME_PATTERN.fullmatch(value):
        return (f"must be 1 to {NAME_MAX} characters, only {NAME_CHARS}, starting with a letter or digit "
                "(it becomes part of folder and run names)")
    return None


def _name(value: str) -> str:
    problem = name_problem(value)
    if problem:
        _fail("name_characters", problem)
    return value


def module_name_problem(value: Any) -> str | None:
    """Why ``value`` cannot be an entry of ``plugins:`` (None when it can)."""
    if not isinstance(value, str) or not MODULE_PATTERN.fullmatch(value):
        return "must be a Python module name (dotted identifiers such as my_package.cells)"
    return None


def _module(value: str) -> str:
    problem = module_name_problem(value)
    if problem:
        _fail("module_name", problem)
    return value


def _checked(*checks: Callable[[str], str], **json: Any) -> Any:
    return Annotated[str, *(AfterValidator(c) for c in checks), Field(json_schema_extra=json or None)]


NonEmptyStr = _checked(_not_empty, _no_control, minLength=1)
"""A string with something in it (not empty, not only spaces) and no control characters."""

NameStr = _checked(_name, minLength=1, maxLength=NAME_MAX, pattern=f"^{NAME_PATTERN.pattern}$")
"""A name that becomes part of a folder or file name: ``[A-Za-z0-9][A-Za-z0-9._-]*``, at most 100 characters."""

LabelStr = _checked(_not_empty, _no_control, _trimmed, minLength=1)
"""A name shown to people (an MLflow experiment): spaces inside are fine; not empty, no control characters,
no spaces at the ends."""

class FileRelative:
    """Marks a path field whose relative paths are taken from the pipeline file's folder. A relative path
    typed in an ``-o`` override of such a field is taken from the working directory instead (the loader
    makes it absolute as it applies the override; see :mod:`seqpipe.config.paths`)."""

    def __repr__(self) -> str:
        return "FileRelative()"


FILE_RELATIVE = FileRelative()

PathStr = Annotated[NonEmptyStr, FILE_RELATIVE]
"""A file path, relative to the pipeline file's folder (from the working directory when typed in ``-o``):
not empty, no control characters."""

CwdPathStr = NonEmptyStr
"""A file or folder path taken from the working directory (in a file and in ``-o`` alike): not empty, no
control characters."""

ModuleName = _checked(_module, pattern=f"^{MODULE_PATTERN.pattern}$")
"""A Python module name for ``plugins:``: dotted identifiers."""


def safe_name(text: str, default: str = "pipeline") -> str:
    """``text`` made into a valid :data:`NameStr` (other characters become ``-``), e.g. from a file name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)[:NAME_MAX]
    return name or default
