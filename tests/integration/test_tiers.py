"""The test tiers hold: the unit tier needs nothing beyond the Python packages, and ``-m slow`` selects the full
pipelines (the default run leaves them out)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.integration.conftest import REPO

UNIT = REPO / "tests" / "unit"


def collect(*args: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 5), proc.stdout[-2000:] + proc.stderr[-2000:]  # 5: nothing selected
    return [line for line in proc.stdout.splitlines() if "::" in line]


def test_the_unit_tier_neither_needs_nor_skips_anything():
    """No unit test is marked as needing apt, Java, WordNet, the network or a long run, and none skips."""
    pattern = re.compile(r"mark\.(apt|java|wordnet|network|slow|integration)\b|pytest\.skip\(|skipif|importorskip")
    found = [f"{path.relative_to(REPO)}:{number}: {line.strip()}" for path in sorted(UNIT.rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert found == []


def test_slow_selects_the_full_pipelines_and_the_default_run_leaves_them_out():
    marked = sorted({path.relative_to(REPO).as_posix() for path in (REPO / "tests").rglob("*.py")
                     if "mark.slow" in path.read_text(encoding="utf-8") and path.name != "test_tiers.py"})
    assert marked == ["tests/integration/test_full_pipelines.py"]  # the only place the marker is used
    pipelines = sorted(path.stem for path in (REPO / "pipelines").glob("*.yaml"))
    slow = collect("-m", "slow", "tests/integration/test_full_pipelines.py")
    assert sorted(re.search(r"\[(.+)\]$", test).group(1) for test in slow) == pipelines
    assert collect("tests/integration/test_full_pipelines.py") == []  # setup.cfg's default run leaves them out
