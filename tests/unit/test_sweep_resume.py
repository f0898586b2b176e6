"""``seqpipe sweep --resume`` of grid and random sweeps: the trials that finished are kept, the others run.

The trials here are stand-in processes (a Python one-liner printing a run's JSON line), so the scheduling,
the records and the resume logic are tested without training anything; tests/integration/test_sweep_optuna.py
kills and resumes a real tpe search.
"""

from __future__ import annotations

import json
import sys

import pytest

from seqpipe import sweep
from seqpipe.errors import SeqpipeError

PIPELINE = """\
name: resumed
task: classification
tracking: {backend: none}
data: {source: {path: data.tsv}, split: {valid: 0.2, test: 0.2}}
stages:
  - tokenize: {vocab_size: 60}
  - embed: {dim: 8}
  - encode: {cell: gru, units: 4}
  - classify: {}
  - train: {epochs: 1, batch_size: 16, monitor: val_accuracy}
sweep:
  method: METHOD
  trials: 3
  params:
    encode.units: [4, 8, 16]
"""


@pytest.fixture
def fake_trials(tmp_path, monkeypatch):
    """Each trial prints the JSON line of a finished run whose val_accuracy is its units / 100; ran[] lists them."""
    ran = []

    def command(pipeline, overrides, trial, parent):
        ran.append(trial.number)
        line = json.dumps({"status": "FINISHED", "run_id": f"run{trial.number}", "run_dir": None,
                           "metrics": {"val_accuracy": trial.settings["encode.units"] / 100}})
        return [sys.executable, "-c", f"print({line!r})"]

    monkeypatch.setattr(sweep, "_trial_command", command)
    monkeypatch.chdir(tmp_path)
    return ran


@pytest.mark.parametrize("method", ["grid", "random"])
def test_resume_runs_only_the_trials_that_did_not_finish(tmp_path, fake_trials, method):
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.replace("METHOD", method), encoding="utf-8")
    with pytest.raises(SeqpipeError, match="no sweep of .* start one without --resume"):
        sweep.run_sweep(path, resume=True, print_line=lambda line: None)
    first = sweep.run_sweep(path, print_line=lambda line: None)
    assert fake_trials == [1, 2, 3] and list(first.table["status"]) == ["FINISHED"] * 3
    # as if the sweep had been killed while its second trial ran (the third not started)
    state = json.loads((first.folder / "sweep.json").read_text())
    (first.folder / "sweep.json").write_text(json.dumps({**state, "finished": False}))
    lines = (first.folder / "trials.jsonl").read_text().splitlines()
    (first.folder / "trials.jsonl").write_text(lines[0] + "\n" + lines[1][:20])  # a line cut by the kill
    fake_trials.clear()
    printed = []
    again = sweep.run_sweep(path, resume=True, print_line=printed.append)
    assert fake_trials == [2, 3]  # trial 1 is not run again
    assert again.folder == first.folder and "resuming: 1 finished" in printed[0]
    records = [json.loads(line) for line in (first.folder / "trials.jsonl").read_text().splitlines()]
    assert [r["trial"] for r in records] == [1, 2, 3] and records[0] == json.loads(lines[0])
    assert list(again.table["trial"]) == [1, 2, 3] and again.best["value"] == max(again.table["val_accuracy"])
    assert [t.settings for t in again.trials] == [t.settings for t in first.trials[1:]]  # the same draws
    with pytest.raises(SeqpipeError, match="finished; nothing to resume"):
        sweep.run_sweep(path, resume=True, print_line=lambda line: None)


def test_resume_refuses_a_changed_sweep(tmp_path, fake_trials):
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE.replace("METHOD", "grid"), encoding="utf-8")
    first = sweep.run_sweep(path, print_line=lambda line: None)
    state = json.loads((first.folder / "sweep.json").read_text())
    (first.folder / "sweep.json").write_text(json.dumps({**state, "finished": False}))
    with pytest.raises(SeqpipeError, match="differ from those .* started with"):
        sweep.run_sweep(path, ["encode.cell=lstm"], resume=True, print_line=lambda line: None)
    with pytest.raises(SeqpipeError, match="differ from those .* started with"):
        sweep.run_sweep(path, grid={"encode.units": [4, 8]}, resume=True, print_line=lambda line: None)
    assert sweep.run_sweep(path, resume=True, parallel=2, print_line=lambda line: None).folder == first.folder
