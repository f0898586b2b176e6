"""Safety defaults: the UI listens on this machine only, run outputs stay in the run folder."""

from __future__ import annotations

import pytest

from seqpipe.cli import main
from seqpipe.pipeline.context import ContractError, RunContext


def test_ui_binds_to_localhost_unless_told_otherwise(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr("subprocess.call", lambda command, env=None: calls.append(command) or 0)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    assert main(["ui", "--tracking-uri", uri]) == 0
    assert calls[0][calls[0].index("--host") + 1] == "127.0.0.1"
    assert "warning" not in capsys.readouterr().err
    assert main(["ui", "--tracking-uri", uri, "--host", "0.0.0.0"]) == 0
    assert calls[1][calls[1].index("--host") + 1] == "0.0.0.0"
    assert "anyone who can reach this machine can read and delete runs" in capsys.readouterr().err


def test_paths_cannot_leave_the_run_folder(tmp_path):
    ctx = RunContext(config=None, run_dir=tmp_path / "run", base_dir=tmp_path, tracker=None, log=None)
    assert ctx.path("evaluation", "a.csv") == tmp_path / "run" / "evaluation" / "a.csv"
    for escape in (("..", "x.txt"), ("/etc", "passwd"), ("plots", "..", "..", "y")):
        with pytest.raises(ContractError, match="is outside the run folder"):
            ctx.path(*escape)
