"""The extension points hold: task names live in seqpipe/tasks only, stages never read another stage's config."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "seqpipe"
TASK_WORDS = re.compile(r"\b(classification|translation|language_model|tagging|regression|captioning)\b")


def sources(*exclude: str):
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if not any(relative.startswith(prefix) for prefix in exclude):
            yield relative, path.read_text(encoding="utf-8")


def test_no_module_outside_the_tasks_names_a_task():
    found = [f"{name}:{number}: {line.strip()}" for name, text in sources("tasks/")
             for number, line in enumerate(text.splitlines(), 1) if TASK_WORDS.search(line)]
    assert found == []


def test_stages_and_task_runtimes_read_only_their_own_config():
    """Cross-stage settings are resolved at validation (Task.resolve); runtime code reads only its stage's config."""
    pattern = re.compile(r"config\.stage\(")
    # the code that runs inside stages: the stages, the tasks, the training loop, the layers
    inside = ("stages/", "tasks/", "train/", "layers/", "decoding/", "export/")
    found = [f"{name}:{number}" for name, text in sources() if name.startswith(inside)
             for number, line in enumerate(text.splitlines(), 1)
             if pattern.search(line) and not _in_resolve_or_rules(text, number)]
    assert found == []


def _in_resolve_or_rules(text: str, number: int) -> bool:
    """Whether line ``number`` is inside a ``def resolve`` or ``def rules`` (validation code may read any stage)."""
    for line in reversed(text.splitlines()[:number]):
        match = re.match(r"\s*def (\w+)\(", line)
        if match:
            return match.group(1) in ("resolve", "rules")
    return False


def test_the_built_in_tasks_are_each_one_package_with_a_light_declaration():
    import subprocess
    import sys

    code = ("import sys, seqpipe.tasks\n"
            "from seqpipe.tasks import TASKS\n"
            "assert TASKS.names() == ['captioning', 'classification', 'language_model', 'regression', 'tagging', "
            "'translation'], "
            "TASKS.names()\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    for name in ("captioning", "classification", "language_model", "regression", "tagging", "translation"):
        assert ((PACKAGE / "tasks" / name / "__init__.py").exists()
                and (PACKAGE / "tasks" / name / "runtime.py").exists())
