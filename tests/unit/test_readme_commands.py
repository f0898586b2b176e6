"""The README's two commands stay true: CI runs the test command verbatim; the first runs the flagship."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def readme_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section.replace("\n   ", "\n"), flags=re.S)


def test_readme_has_exactly_two_commands():
    assert len(readme_commands()) == 2


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = readme_commands()[1].strip()
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in [line.strip() for line in ci]
    assert "pytest" in test_command


def test_first_command_runs_a_real_pipeline_with_defaults():
    first = readme_commands()[0]
    match = re.search(r"seqpipe run (\S+\.yaml)$", first.strip())
    assert match and " -o " not in first
    pipeline = yaml.safe_load((REPO / match.group(1)).read_text())
    assert (REPO / "pipelines" / "smoke" / Path(match.group(1)).name).exists()
    fragments = [yaml.safe_load((REPO / "pipelines" / f).read_text()) for f in pipeline.get("extends", [])]
    sources = [f.get("data", {}).get("source", {}) for f in fragments + [pipeline]]
    assert any("recipe" in s for s in sources)  # real data, not a toy file
