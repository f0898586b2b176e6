"""Every pipeline of pipelines/ run in full, as the README's first command runs the flagship: ``-m slow``.

Minutes to an hour each on 2 CPU cores; the default run leaves them out and runs their smoke variants instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, seqpipe

NEEDS_APT = {"translate_en_es"}  # the parallel Bible comes from Debian's sword packages
NEEDS_JAVA = {"translate_en_es", "captions_shapes"}  # they report meteor_1.5 (the METEOR 1.5 jar)
PIPELINES = [pytest.param(path, id=path.stem, marks=[*([pytest.mark.apt] if path.stem in NEEDS_APT else []),
                                                     *([pytest.mark.java] if path.stem in NEEDS_JAVA else [])])
             for path in sorted((REPO / "pipelines").glob("*.yaml"))]

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_full_pipeline_runs_with_its_defaults(pipeline, tmp_path):
    proc = seqpipe("run", str(pipeline), "--json", cwd=tmp_path, timeout=3 * 3600)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "FINISHED"
    assert [key for key in result["metrics"] if key.startswith(("test_", "valid_"))]
    assert Path(result["export_path"]).is_dir()
