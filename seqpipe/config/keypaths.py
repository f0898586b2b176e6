"""Key paths and values as problem messages show them (``stages.encode.units``, ``'a very long va...'``)."""

from __future__ import annotations

import re
from typing import Any

Path_ = tuple  # a key path such as ("stages", "encode", "units")


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        text = f"<an integer of {value.bit_length()} bits>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
