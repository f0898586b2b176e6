"""Property-based fuzzing of ``seqpipe validate`` on mutations of every shipped pipeline.

Each case copies one shipped pipeline's chain (the pipeline and the fragments it extends), mutates one of
those files (wrong types, unknown keys, deleted keys, bad choices, huge and non-finite numbers, broken
YAML) and/or adds bad ``-o`` overrides, then runs the real CLI entry in-process. Whatever the input:

- the exit code is 0 (the mutation happened to be valid: nothing on stderr) or 2;
- no traceback, and every stderr line reads ``<location>: <key path>: <message>`` or
  ``<location>: <why the file itself is wrong>``, where the location is one of the chain's files
  (with a line number inside it) or the ``-o key=value`` that caused it.

The cases are derandomized (the same cases on every run, so CI is stable) and bounded: about 1,900
distinct cases in about 30 s on 2 cores. ``SEQPIPE_FUZZ_EXAMPLES=N`` sets the cases per pipeline and mutation
family, ``SEQPIPE_FUZZ_RANDOM=1`` draws new cases each run (for a longer fuzzing session).
"""

from __future__ import annotations

import copy
import math
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqpipe.cli import main

REPO = Path(__file__).resolve().parents[2]
PIPELINES = sorted((REPO / "pipelines").glob("*.yaml")) + sorted((REPO / "pipelines" / "smoke").glob("*.yaml"))
EXAMPLES = int(os.environ.get("SEQPIPE_FUZZ_EXAMPLES", "0")) or None

FUZZ = settings(
    max_examples=EXAMPLES or 80,
    deadline=None,
    derandomize=not os.environ.get("SEQPIPE_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
    print_blob=False,
)

# Messages about a file as a whole (or an override as a whole) rather than one key.
FILE_LEVEL = (
    "not valid YAML: ", "the file must hold a mapping", "not UTF-8 text", "aliases expand to more than ",
    "lists and mappings are nested more than ", "file not found: ", "is a folder, not a YAML file",
    "the file is larger than ", "expected key.path=value", "empty key path", "cannot read ",
    "the file holds more than ", "too many problems: ",
)
_INDEX = r"""\[(?:-?\d+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\]'"]*)\]"""  # [3], ['a b'], [None]
KEY_PATH = rf"(?:<top>|[^\s:.\[\]'\"\\]+|{_INDEX})(?:\.[^\s:.\[\]'\"\\]+|{_INDEX})*"


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of pipelines/ and configs/ (fragments are found relative to each file, as in the repository)."""
    root = tmp_path_factory.mktemp("fuzz").resolve()
    for folder in ("pipelines", "configs"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def _chain(path: Path) -> list[Path]:
    """The pipeline and every fragment it extends, recursively."""
    out, todo = [], [path]
    while todo:
        file = todo.pop(0)
        if file in out:
            continue
        out.append(file)
        extends = (yaml.safe_load(file.read_text(encoding="utf-8")) or {}).get("extends", [])
        todo += [(file.parent / e).resolve() for e in ([extends] if isinstance(extends, str) else extends)]
    return out


def _paths(value, prefix=()) -> list[tuple]:
    """Every key path in ``value`` (mapping keys and list indexes), parents before children."""
    out = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        out.append(prefix + (key,))
        out += _paths(item, prefix + (key,))
    return out


def _get(data, path):
    for part in path:
        data = data[part]
    return data


# -- mutations -------------------------------------------------------------------------------

IDENTIFIER = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(lambda k: k != "plugins")
WRONG_TYPES = st.sampled_from(["abc", "", " ", [1, 2], {"a": 1}, {}, [], 7, -1, 0, 0.5, True, None, "2024-01-01",
                               [{"x": 1}], "null", "~", "yes"])
HUGE = st.sampled_from([10**20, -(10**20), 2**63, -(2**63) - 1, 10**400, 1e308, 1.7976931348623157e308, 10**-320])
NON_FINITE = st.sampled_from([math.inf, -math.inf, math.nan])
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
INSERTS = st.sampled_from(["\t", ":", ": ", "[", "]", "{", "}", "'", '"', "- ", "&a ", "*a", "*nope", "!x ",
                           "!!python/object:os.system ", "? ", "---\n", "%YAML 1.1\n", "#", "|", ">", ",", "\n",
                           "\n  ", "  ", "\x00", "\x7f", "<<: ", "!!int ", "!!float ", "\ufeff", "@", "`"])


RAW = st.sampled_from([
    "!!python/object:os.system {}", "!!python/object/apply:os.system [ls]", "!include other.yaml", "!!int abc",
    "!!float x", "!!bool maybe", "!!binary aGk=", "!!timestamp 2020-01-01", "!!set {a, b}", "!!omap [a: 1]",
    "!!str 5", "!!null", "!!int '12'", "!x {a: 1}", "&r [1, *r]", "*undefined", "[" * 80 + "]" * 80,
    "{a: " * 70 + "1" + "}" * 70, ".inf", "-.inf", ".nan", "+.inf", "2020-01-01", "0x1F", "0o17", "1_000", "=", "<<",
    "~", "1" + "0" * 5000, "1.0e+400", "&s {x: 1}", "{<<: {a: 1}}", "{<<: [1]}", "[&q 1, *q, *q]", "''", '"\\x00"',
])
RAW_MARK = "__raw_yaml_value__"


@st.composite
def data_mutation(draw, data):
    """Change the parsed file at one key path; returns the new data (or None when there is nothing to change)."""
    data = copy.deepcopy(data)
    paths = _paths(data)
    kind = draw(st.sampled_from(["wrong_type", "unknown_key", "delete", "bad_choice", "huge", "non_finite",
                                 "rename", "raw"]))
    if kind == "unknown_key":
        mappings = [()] + [p for p in paths if isinstance(_get(data, p), dict)]
        target = _get(data, draw(st.sampled_from(mappings)))
        target[draw(IDENTIFIER)] = draw(st.one_of(WRONG_TYPES, IDENTIFIER))
        return data
    if not paths:
        return None
    path = draw(st.sampled_from(paths))
    parent, key = _get(data, path[:-1]), path[-1]
    if kind == "delete":
        del parent[key]
    elif kind == "rename" and isinstance(parent, dict):
        parent[draw(IDENTIFIER)] = parent.pop(key)
    elif kind == "bad_choice":
        current = parent[key]
        if isinstance(current, str) and current:
            i = draw(st.integers(0, len(current) - 1))
            parent[key] = draw(st.sampled_from([current[:i] + current[i + 1:], current + "x", current.upper(),
                                                 current[:i] + "_" + current[i:]]))
        else:
            parent[key] = draw(st.one_of(IDENTIFIER, TEXT))
    elif kind == "huge":
        parent[key] = draw(HUGE)
    elif kind == "non_finite":
        parent[key] = draw(NON_FINITE)
    elif kind == "raw":  # YAML that only text can say: tags, anchors, aliases, deep nesting (see _dump)
        parent[key] = RAW_MARK + draw(RAW)
    else:
        parent[key] = draw(WRONG_TYPES)
    return data


def _dump(data) -> str:
    """YAML text of ``data``; a string marked by RAW_MARK becomes the raw YAML after the mark."""
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    return re.sub(rf"""(['"]?){RAW_MARK}(.*?)\1$""", lambda m: yaml.safe_load(f"{m[1]}{m[2]}{m[1]}")
                  if m[1] else m[2], text, flags=re.M)


def _bomb(levels: int) -> str:
    lines = ["b0: &b0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@st.composite
def text_mutation(draw, text):
    kind = draw(st.sampled_from(["truncate", "insert", "insert", "drop_line", "indent", "duplicate_line", "bomb"]))
    lines = text.splitlines(keepends=True)
    if kind == "bomb":
        return _bomb(draw(st.integers(1, 9))) + text
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if kind == "insert":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(INSERTS) + text[at:]
    i = draw(st.integers(0, max(len(lines) - 1, 0)))
    if not lines:
        return text
    if kind == "drop_line":
        return "".join(lines[:i] + lines[i + 1:])
    if kind == "indent":
        return "".join(lines[:i] + [" " + lines[i]] + lines[i + 1:])
    return "".join(lines[: i + 1] + lines[i:])


FIXED_OVERRIDES = ["train.epochs=abc", "nosuch.key=1", "stages[99].x=1", "=", "train.epochs", "train.epochs=",
                   "train.epochs=.inf", "train.epochs=.nan", "seed=1e400", "seed=10000000000000000000000",
                   "stages[0]=5", "stages=[]", "stages=7", "name=", "name=a/b", "tracking.experiment=",
                   "tracking={}", "data=[]", "data.source=", "encode.units={a: 1}", "extends=[x.yaml]",
                   "train.optimizer.learning_rate=-.inf", "[0]=1", "stages.=1", "a..b=1", "...=1",
                   "stages[0].x.y.z=1", "train.epochs=!!python/object:os.system {}", "train.epochs=&a [*a]",
                   "train.epochs=[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                   "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "train.epochs={", "description=\x00"]


@st.composite
def override(draw, data_paths):
    kind = draw(st.sampled_from(["fixed", "fixed", "path", "random"]))
    if kind == "fixed":
        return draw(st.sampled_from(FIXED_OVERRIDES))
    if kind == "path" and data_paths:
        path = draw(st.sampled_from(data_paths))
        key = ""
        for part in path:
            key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
        value = draw(st.one_of(st.sampled_from(["abc", "''", "[1, 2]", "{a: 1}", "-1", "0", ".inf", ".nan", "null",
                                                "1e999", "10000000000000000000000", "~", "[", "{a: [}"]), TEXT))
        return f"{key}={value}"
    return draw(TEXT) + "=" + draw(TEXT)


# -- the property ----------------------------------------------------------------------------


def _check(capsys, pipeline: Path, files: list[Path], overrides: list[str]) -> None:
    capsys.readouterr()
    # --override=TEXT: a value that starts with '-' is an override, not an option for argparse
    code = main(["validate", str(pipeline), *[f"--override={o}" for o in overrides]])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if code == 0:
        # a valid pipeline may get GPU-readiness warnings, one line each, located like problems
        assert all(": warning: " in line for line in err.splitlines()), err
        assert out.startswith(f"{pipeline}: ok (")
        return
    assert code == 2, err
    lines = err.splitlines()
    assert lines, "exit 2 with nothing on stderr"
    origins = [re.escape(str(f)) for f in files] + [re.escape(_origin(o)) for o in overrides]
    pattern = re.compile(rf"^(?P<loc>{'|'.join(origins)})(?::(?P<line>\d+))?: (?P<rest>\S.*)$")
    counts = {str(f): f.read_text(encoding="utf-8", errors="replace").count("\n") + 2 for f in files}
    for line in lines:
        m = pattern.match(line)
        assert m, f"not 'location: key.path: message': {line!r}"
        if m["line"]:
            assert 1 <= int(m["line"]) <= counts.get(m["loc"], 1), f"line out of the file: {line!r}"
        rest = m["rest"]
        assert rest.startswith(FILE_LEVEL) or re.match(rf"^{KEY_PATH}: \S", rest), (
            f"names neither a key path nor a problem of the file: {line!r}")


def _origin(text: str) -> str:
    from seqpipe.config.loader import override_origin

    return override_origin(text)


def _case(tree: Path, pipeline: Path) -> tuple[Path, list[Path], dict[Path, str], dict[Path, object]]:
    copy_of = (tree / pipeline.relative_to(REPO)).resolve()
    files = _chain(copy_of)
    texts = {f: f.read_text(encoding="utf-8") for f in files}
    return copy_of, files, texts, {f: yaml.safe_load(t) for f, t in texts.items()}


SEEN: set = set()


def _run(capsys, pipeline, files, texts, target, text, overrides):
    key = (str(target), text, tuple(overrides))
    if key in SEEN:  # the same case again: nothing new to learn
        return
    SEEN.add(key)
    try:
        target.write_text(text, encoding="utf-8", errors="surrogatepass")
        _check(capsys, pipeline, files, overrides)
    finally:
        target.write_text(texts[target], encoding="utf-8")


def _ids(p: Path) -> str:
    return str(p.relative_to(REPO))


@pytest.mark.parametrize("pipeline", PIPELINES, ids=_ids)
@FUZZ
@given(st.data())
def test_data_mutations(tree, capsys, pipeline, data):
    copy_of, files, texts, parsed = _case(tree, pipeline)
    target = data.draw(st.sampled_from(files), label="file")
    mutated = data.draw(data_mutation(parsed[target]), label="mutation")
    if mutated is None:
        return
    _run(capsys, copy_of, files, texts, target, _dump(mutated), [])


@pytest.mark.parametrize("pipeline", PIPELINES, ids=_ids)
@FUZZ
@given(st.data())
def test_broken_yaml(tree, capsys, pipeline, data):
    copy_of, files, texts, _ = _case(tree, pipeline)
    target = data.draw(st.sampled_from(files), label="file")
    text = data.draw(text_mutation(texts[target]), label="text")
    _run(capsys, copy_of, files, texts, target, text, [])


@pytest.mark.parametrize("pipeline", PIPELINES, ids=_ids)
@settings(FUZZ, max_examples=EXAMPLES or 50)
@given(st.data())
def test_bad_overrides(tree, capsys, pipeline, data):
    copy_of, files, texts, parsed = _case(tree, pipeline)
    paths = [p for f in files for p in _paths(parsed[f]) if p[0] != "extends" and p[0] != "plugins"]
    overrides = data.draw(st.lists(override(paths), min_size=1, max_size=3), label="overrides")
    # sometimes with a mutated file too: problems of both kinds in one report
    if data.draw(st.booleans(), label="also mutate"):
        target = data.draw(st.sampled_from(files), label="file")
        mutated = data.draw(data_mutation(parsed[target]), label="mutation")
        if mutated is not None:
            _run(capsys, copy_of, files, texts, target, _dump(mutated), overrides)
            return
    _run(capsys, copy_of, files, texts, files[0], texts[files[0]], overrides)
