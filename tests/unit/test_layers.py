"""The import graph, read from the source with ast: no circles, and imports only point down the layers.

Every ``import`` counts, also those inside functions (a lazy import is still a dependency). The layer order
is written here and, for readers, in docs/architecture.md (a test below keeps the two the same).
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "seqpipe"
MAX_LINES = 400

# Lowest first. A module belongs to the first layer with a pattern that matches its dotted name; a module
# may import modules of its own layer or a lower one. `seqpipe.tasks.*.commands` (a task's CLI commands,
# imported by cli.py from the dotted path the task declares) belongs to the command line.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("seqpipe._version", "seqpipe._quiet", "seqpipe.errors", "seqpipe.registry", "seqpipe.schema")),
    ("command line", ("seqpipe.cli", "seqpipe.__main__", "seqpipe.serving_commands", "seqpipe.tasks.*.commands")),
    ("components", ("seqpipe.text*", "seqpipe.data*", "seqpipe.cells*", "seqpipe.layers*", "seqpipe.decoding*",
                    "seqpipe.metrics*", "seqpipe.tracking*", "seqpipe.export*")),
    ("engine", ("seqpipe.pipeline*", "seqpipe.train*")),
    ("tasks", ("seqpipe.tasks*",)),
    ("stages", ("seqpipe.stages*",)),
    ("config", ("seqpipe.config*",)),
    ("surface", ("seqpipe.runner", "seqpipe.api", "seqpipe.sweep*", "seqpipe.compare*", "seqpipe.predict",
                 "seqpipe.saving")),
]
ORDER = ["foundation", "components", "engine", "tasks", "stages", "config", "surface", "command line"]
TOP = "seqpipe"  # the package itself: `seqpipe.run` and `__version__`; nothing in seqpipe imports it


def module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


MODULES = module_names()


def _target(name: str) -> str | None:
    """The seqpipe module an imported name lives in (``seqpipe.a.b.Thing`` -> ``seqpipe.a.b``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] or [base]
        else:
            continue
        for name in names:
            if name == TOP or name.startswith(TOP + "."):
                target = _target(name)
                if target and target != module:
                    found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def layer_of(module: str) -> str | None:
    for layer, patterns in LAYERS:
        if any(fnmatch.fnmatchcase(module, pattern) for pattern in patterns):
            return layer
    return None


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != TOP and layer_of(m) is None] == []


def test_imports_point_down_the_layers():
    rank = {layer: i for i, layer in enumerate(ORDER)}
    upward = [f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
              for module, targets in GRAPH.items() if module != TOP for target in sorted(targets)
              if target == TOP or rank[layer_of(target)] > rank[layer_of(module)]]
    assert upward == []


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    assert _circles(GRAPH) == []


def test_the_circle_finder_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_task_package_imports_another_task_package():
    """A task imports the shared cores (seqpipe.tasks.seq2seq, seqpipe.tasks.pooled, ...), never another task."""
    from seqpipe.tasks import TASKS

    packages = {TASKS.get(name).__module__ for name in TASKS.names()}
    assert {p.rpartition(".")[2] for p in packages} >= {"translation", "captioning", "tagging"}

    def task_package(module):
        return next((p for p in packages if module == p or module.startswith(p + ".")), None)

    crossing = [f"{module} imports {target}" for module, targets in GRAPH.items() for target in sorted(targets)
                if task_package(module) and task_package(target) and task_package(module) != task_package(target)]
    assert crossing == []


@pytest.mark.parametrize("folder", ["seqpipe", "bench"])
def test_no_module_is_longer_than_the_limit(folder):
    long = {path.relative_to(ROOT).as_posix(): n for path in sorted((ROOT / folder).rglob("*.py"))
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_architecture_page_shows_the_layers_this_test_enforces():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d) \| ([a-z ]+) \| (.+) \|$", text, re.M)
    by_layer = dict(LAYERS)
    assert [name for _, name, _ in rows] == ORDER
    for number, name, modules in rows:
        assert int(number) == ORDER.index(name) + 1
        assert re.findall(r"`([^`]+)`", modules) == list(by_layer[name])
