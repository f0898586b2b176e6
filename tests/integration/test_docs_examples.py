"""docs/architecture.md's "Adding a task / a cell / a stage" examples run as written; ruff keeps the house style."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def example(heading: str) -> str:
    """The first python block under the heading ``### {heading}`` of docs/architecture.md."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert f"\n### {heading}\n" in text, f"docs/architecture.md has no section '### {heading}'"
    section = re.split(r"\n#{1,3} ", text.split(f"\n### {heading}\n", 1)[1], maxsplit=1)[0]
    return re.search(r"```python\n(.+?)\n```", section, flags=re.S).group(1)


@pytest.fixture
def restore_registries():
    from seqpipe.cells import CELLS
    from seqpipe.config.pipeline import load_components
    from seqpipe.pipeline.stage import STAGES
    from seqpipe.tasks import TASKS

    load_components()  # the built-in ones are registered before, so only the example's are removed after
    before = {registry: set(registry.names()) for registry in (CELLS, STAGES, TASKS)}
    yield
    for registry, names in before.items():
        for name in set(registry.names()) - names:
            registry.unregister(name)


def test_adding_a_cell(restore_registries):
    import keras
    import numpy as np

    exec(example("Adding a cell"), {})
    from seqpipe.layers.recurrent import recurrent_stack

    x = keras.Input((None, 3))
    out = recurrent_stack(x, cell="minimal_rnn", units=4, layers=1, bidirectional=True)
    assert keras.Model(x, out)(np.ones((2, 5, 3), "float32")).shape == (2, 5, 8)


def test_adding_a_stage(restore_registries, tmp_path):
    from seqpipe.api import load

    exec(example("Adding a stage"), {})
    stages = ["tokenize", "embed", "encode", "classify", "train", "evaluate", {"note": {"text": "hi"}}]
    config, _, _ = load({"name": "n", "task": "classification", "data": {"source": {"path": "x.tsv"}},
                         "stages": stages})
    assert config.stage_names()[-1] == "note" and config.stage("note").text == "hi"


def test_adding_a_task(restore_registries, tmp_path, monkeypatch):
    import numpy as np

    rows = ["text\ttarget"] + [f"{' '.join(['up'] * n + ['flat'] * 2)}\t{n}" for n in range(8) for _ in range(12)]
    (tmp_path / "counts.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(example("Adding a task"), scope)
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "history.csv").exists()
    assert np.isfinite(scope["result"].metrics["test_mse"])


def test_ruff_keeps_the_house_style():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
