"""Schema building blocks shared by every component's config class.

Component config classes live next to their component and derive from :class:`Schema`,
so the place that consumes a YAML key is one hop from its schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from seqpipe.registry import Registry, did_you_mean


class Schema(BaseModel):
    """Strict base: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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
                    "must be one of {choices}; got '{value}'{hint}",
                    {
                        "choices": ", ".join(names),
                        "value": value,
                        "hint": did_you_mean(value, names),
                    },
                )
            return value

        return core_schema.no_info_after_validator_function(check, core_schema.str_schema())

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler):
        return {"type": "string", "enum": self.registry.names()}
