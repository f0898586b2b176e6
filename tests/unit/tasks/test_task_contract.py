"""Every registered task keeps the one contract of seqpipe/tasks/base.py: each hook with its declared signature."""

from __future__ import annotations

import inspect

import pytest

from seqpipe.tasks import TASKS
from seqpipe.tasks.base import Task, TaskRuntime

TASK_HOOKS = ("rules", "resolve", "check_data", "main_metric", "resampler")
RUNTIME_HOOKS = ("build_encoders", "extend_embedding", "fit", "evaluation_table", "score", "write_report", "export",
                 "serving_module", "predict_inputs", "predict_table", "predict_nbest")
MUST_IMPLEMENT = ("fit", "evaluation_table", "score", "export")  # the base raises NotImplementedError
SERVING_IMPORTS = {"__future__", "numpy", "pandas", "tensorflow"}  # what an MLflow model's server has


def shape(function) -> list[tuple[str, object, object]]:
    """A signature without annotations: each parameter's name, kind and default."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_the_hooks_are_declared_once_with_a_docstring():
    for cls, hooks in ((Task, TASK_HOOKS), (TaskRuntime, RUNTIME_HOOKS)):
        for hook in hooks:
            assert inspect.getdoc(getattr(cls, hook)), f"{cls.__name__}.{hook} has no docstring"
    public = {name for name, value in vars(TaskRuntime).items() if callable(value) and not name.startswith("_")}
    assert public == set(RUNTIME_HOOKS)


@pytest.mark.parametrize("name", TASKS.names())
def test_every_task_implements_the_declared_signatures(name):
    task = TASKS.get(name)()
    for hook in TASK_HOOKS:
        assert shape(getattr(type(task), hook)) == shape(getattr(Task, hook)), f"{name}: Task.{hook}"
    runtime = task.runtime
    assert isinstance(runtime, TaskRuntime) and runtime.task is task
    for hook in RUNTIME_HOOKS:
        assert shape(getattr(type(runtime), hook)) == shape(getattr(TaskRuntime, hook)), f"{name}: {hook}"
    for hook in MUST_IMPLEMENT:
        assert getattr(type(runtime), hook) is not getattr(TaskRuntime, hook), f"{name} does not implement {hook}"


@pytest.mark.parametrize("name", TASKS.names())
def test_every_task_is_served_by_a_self_contained_module(name):
    """The serving module travels inside the MLflow model, where seqpipe is not installed."""
    import ast
    import importlib
    from pathlib import Path

    module = importlib.import_module(TASKS.get(name).serving)
    assert module.INPUT and module.INPUT_TYPE in ("string", "binary") and isinstance(module.PARAMS, dict)
    assert shape(module.predict) == [(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty)
                                     for p in ("model", "inputs", "meta", "params")]
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= SERVING_IMPORTS, f"{module.__name__} imports {sorted(imported - SERVING_IMPORTS)}"


def test_the_runtime_is_imported_once_per_task_instance_and_only_when_asked_for():
    import subprocess
    import sys

    code = ("import sys\n"
            "from seqpipe.tasks import get_task\n"
            "task = get_task('classification')\n"
            "assert 'tensorflow' not in sys.modules\n"
            "assert task.runtime is task.runtime\n"
            "assert 'tensorflow' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_task_without_a_runtime_says_so():
    class Bare(Task):
        name = "bare"

    with pytest.raises(NotImplementedError, match="task 'bare' declares no runtime_class"):
        Bare().runtime


def test_a_signature_that_differs_is_caught():
    class Wrong(TaskRuntime):
        def fit(self, ctx, cfg, extra):
            """Takes one argument too many."""

    assert shape(Wrong.fit) != shape(TaskRuntime.fit)
