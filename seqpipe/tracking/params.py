"""Turn a nested configuration into MLflow-safe ``{key: value}`` string params.

The limits mirror ``mlflow.utils.validation`` (MLflow 3.17); they are copied here so this
module does not import mlflow, and a unit test checks they still match.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Mapping

MAX_PARAM_VALUE_LENGTH = 6000  # MAX_PARAM_VAL_LENGTH
MAX_TAG_VALUE_LENGTH = 8000  # MAX_TAG_VAL_LENGTH
MAX_KEY_LENGTH = 250  # MAX_ENTITY_KEY_LENGTH
MAX_PARAMS_PER_BATCH = 100  # MAX_PARAMS_TAGS_PER_BATCH (params and tags)
MAX_METRICS_PER_BATCH = 1000  # MAX_METRICS_PER_BATCH

# MLflow allows alphanumerics, "_", "-", ".", " ", "/" and (not on Windows) ":" in keys.
_BAD_KEY_CHARS = re.compile(r"[^\w.\- /]")


def _changes_as_path(key: str) -> bool:
    """MLflow's rule: keys may be used as file paths, so they must be normalised paths."""
    norm = posixpath.normpath(key)
    return norm != key or norm == "." or norm.startswith(("..", "/"))


def safe_key(key: str) -> str:
    """Return ``key`` in a form MLflow accepts, at most 250 characters long.

    Characters MLflow rejects become ``_``; ``/`` (which the MLflow UI uses to group
    metrics) is kept unless the key is not a clean relative path. Over-long keys keep
    their first characters and end in a short hash of the full key, so distinct keys
    stay distinct.
    """
    key = _BAD_KEY_CHARS.sub("_", key)
    if _changes_as_path(key):
        key = key.replace("/", "_")
    if _changes_as_path(key):
        key = "_" + key
    if len(key) > MAX_KEY_LENGTH:
        digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
        key = f"{key[: MAX_KEY_LENGTH - 9]}-{digest}"
    return key


_PLAIN_NAME = re.compile(r"[\w-]+")
_ESCAPE = re.compile(r"\.(?:u([0-9A-F]{4})|U([0-9A-F]{8})|([0-9A-F]{2}))")


def escape_name(name: str) -> str:
    """Turn user data (a tag, a class label) into one segment of an MLflow key, injectively.

    Letters, digits, ``_`` and ``-`` stay as they are (``NOUN``, ``-LRB-``, ``B-PER``); every
    other character becomes ``.`` and its code point in hex (``.XX``, ``.uXXXX`` or
    ``.UXXXXXXXX``): ``PRP$`` -> ``PRP.24``, ``''`` -> ``.27.27``, ``.`` -> ``.2E``. A literal
    ``.`` is escaped too, so every ``.`` starts an escape and :func:`unescape_name` reverses
    the mapping: distinct names always give distinct segments. The empty name is ``.0``.
    """
    if name == "":
        return ".0"
    out = []
    for char in name:
        if _PLAIN_NAME.fullmatch(char):
            out.append(char)
        else:
            code = ord(char)
            out.append(f".{code:02X}" if code <= 0xFF else f".u{code:04X}" if code <= 0xFFFF else f".U{code:08X}")
    return "".join(out)


def unescape_name(segment: str) -> str:
    """The name that :func:`escape_name` turned into ``segment``."""
    if segment == ".0":
        return ""
    return _ESCAPE.sub(lambda m: chr(int(next(g for g in m.groups() if g), 16)), segment)


def format_value(value: object) -> str:
    """Compact, YAML-like text for a param value: ``null``, ``true``, ``[a, b]``, ``{k: v}``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def flatten_params(config: Mapping[str, object]) -> dict[str, str]:
    """Flatten ``config`` into dotted keys with string values, ready for ``log_params``.

    Nested mappings become dotted paths (``train.optimizer.learning_rate``); lists holding
    mappings are indexed (``stages.0.name``); other lists become one compact string
    (``[64, 32]``); empty mappings become ``{}``. Keys pass through :func:`safe_key` and
    values are cut to MLflow's 6000-character limit.
    """
    flat: dict[str, str] = {}
    for key, value in config.items():
        _flatten(value, str(key), flat)
    return {safe_key(key): value[:MAX_PARAM_VALUE_LENGTH] for key, value in flat.items()}


def _flatten(value: object, key: str, flat: dict[str, str]) -> None:
    if isinstance(value, Mapping) and value:
        for sub_key, sub_value in value.items():
            _flatten(sub_value, f"{key}.{sub_key}", flat)
    elif isinstance(value, (list, tuple)) and any(isinstance(v, Mapping) for v in value):
        for index, item in enumerate(value):
            _flatten(item, f"{key}.{index}", flat)
    else:
        flat[key] = format_value(value)
