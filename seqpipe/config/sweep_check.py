"""The values a sweep tries, checked against the schema of the keys they set (at ``seqpipe validate`` time).

Each swept key (``encode.cell``, written as for ``-o``) and each of its values (a grid list's items, a
range's bounds and, for a float range, a value inside it) is set in a copy of the pipeline, which is
validated as a whole. A problem is reported at the value's own line: ``file:line:
sweep.params.encode.cell[0]: must be one of ...; got 'lsmt' (did you mean 'lstm'?)``; values given with
``--grid`` are reported at the option. Each key is checked on its own: a value that is valid only
together with another swept value is checked when the sweep validates its trials.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from seqpipe.config import loader
from seqpipe.config.keypaths import _dotted
from seqpipe.errors import ConfigError
from seqpipe.registry import did_you_mean

RANGES = ("uniform", "log_uniform", "int_uniform")  # the keys of seqpipe.config.sweep.Distribution
_MARK = "\x00sweep"  # the location of the swept value in the copy that is validated
_INSIDE = 0.3731  # where inside a float range a value is tried (an integer key refuses a fractional value)


def sweep_problems(layered: loader.Layered, check: Callable, top_level: set[str], base_ok: bool,
                   params: Any = None, origins: dict[str, str] | None = None) -> list[str]:
    """The problems of the swept values, one line each.

    ``check(layered)`` validates a whole config (raising :class:`ConfigError`); ``base_ok`` says whether
    the config without the sweep's values validated (when not, only the problems located at a swept value
    are its own). ``params`` defaults to the file's ``sweep.params``; ``origins`` names where each of
    ``params`` was given (``--grid encode.cell=lstm,gru``) when not in the file.
    """
    if params is None:
        sweep = layered.data.get("sweep")
        params = sweep.get("params") if isinstance(sweep, dict) else None
    if not isinstance(params, dict):
        return []
    stages = layered.data.get("stages")
    names = [n for n in stages if isinstance(n, str)] if isinstance(stages, dict) else []
    problems: list[str] = []
    for key, values in params.items():
        if not isinstance(key, str) or not key or "=" in key:
            continue  # the schema of the sweep section reports it
        if origins:
            at, shown = (lambda _path: origins[key]), key
        else:
            at, shown = (lambda path: layered.where(("sweep", "params", key) + path)), f"sweep.params.{key}"
        try:
            path, _ = loader.parse_override(f"{key}=", top_level, names)
        except ConfigError as exc:
            problems += [f"{at(())}: {shown}: {line.split(': ', 1)[-1]}" for line in exc.problems]
            continue
        if path[0] not in top_level and path[0] != "stages":
            hint = did_you_mean(path[0], names + sorted(top_level))
            problems.append(f"{at(())}: {shown}: unknown key '{path[0]}'; expected a stage of this pipeline "
                            f"({', '.join(names)}) or a top-level key{hint}")
            continue
        found: list[tuple[tuple, str]] = []
        for where, value, prefix in _tries(values):
            if prefix and found:
                break  # a float inside a range whose bounds are refused: nothing more to say
            for message in _check_one(layered, check, path, names, value, base_ok):
                # an unknown key is the key's problem, not the value's: said once
                found.append(((), message) if message.startswith("unknown key") else (where, prefix + message))
        for where, message in dict.fromkeys(found):
            problems.append(f"{at(where)}: {shown}{_dotted(('x',) + where)[1:]}: {message}")
    return problems


def _tries(values: Any):
    """(key path under the swept key, value, message prefix) for each value to check."""
    if isinstance(values, list):
        for i, value in enumerate(values):
            yield (i,), value, ""
        return
    if not (isinstance(values, dict) and len(values) == 1):
        return
    (kind, bounds), = values.items()
    numbers = isinstance(bounds, list) and len(bounds) == 2 and all(
        isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
    if kind not in RANGES or not numbers:
        return  # the schema of the sweep section reports it
    for i, bound in enumerate(bounds):
        yield (kind, i), bound, ""
    if kind != "int_uniform" and bounds[0] < bounds[1]:
        inside = bounds[0] + (bounds[1] - bounds[0]) * _INSIDE
        yield (kind,), inside, f"{kind} draws floats such as {inside:.4g}: "


def _check_one(layered: loader.Layered, check: Callable, path: tuple, names: list, value: Any,
               base_ok: bool) -> list[str]:
    """The problems of the config with ``path`` set to ``value``, as messages (the key path shown when it is not
    ``path``'s own)."""
    trial = loader.Layered(copy.deepcopy(layered.data), dict(layered.locations), list(layered.files))
    try:
        loader.apply_override(trial, path, value, _MARK)
        check(trial)
    except ConfigError as exc:
        lines = exc.problems
    else:
        return []
    own = _dotted(("stages", names.index(path[1])) + path[1:] if path[0] == "stages" and path[1:2] and
                  path[1] in names else path)
    known = sorted({str(loc) for loc in [*layered.locations.values(), *layered.files]}, key=len, reverse=True)
    out = []
    for line in lines:
        if line.startswith(_MARK + ": "):
            rest = line[len(_MARK) + 2:]
        elif base_ok:  # a problem elsewhere that this value causes (a cross-field rule)
            rest = next((line[len(loc) + 2:] for loc in known if line.startswith(loc + ": ")), line)
        else:
            continue  # the config's own problem, reported without the sweep
        key, sep, message = rest.partition(": ")
        out.append(message if sep and key == own else rest)
    return out
