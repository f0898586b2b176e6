"""Stage contracts (checked at validation, enforced by the run context) and who tracks under tf.distribute."""

import pytest

from seqpipe.api import load
from seqpipe.errors import ConfigError
from seqpipe.pipeline.context import ContractError, RunContext
from seqpipe.runner import is_chief

DATA = {"source": {"path": "data.tsv"}}


def problems(task, stages, tmp_path=None, path=None):
    """The validation problems of a pipeline with these stages (from a file when ``path`` is given)."""
    config = {"name": "chain", "task": task, "data": DATA, "stages": stages}
    try:
        if path is not None:
            import yaml

            path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            load(path)
        else:
            load(config)
    except ConfigError as exc:
        return exc.problems
    return []


def test_full_chains_are_accepted():
    assert problems("classification", ["tokenize", "embed", "encode", "classify", "train", "evaluate", "export"]) == []
    assert problems("translation", ["tokenize", "embed", "encode", "decode", "train", "generate", "evaluate",
                                    "export"]) == []


def test_missing_providers_are_all_reported_with_the_stage_to_add():
    assert problems("classification", ["tokenize", "encode", "train"]) == [
        "<dict>: stages[1].encode: stage 'encode' needs 'embedded', which no earlier stage provides; "
        "add the 'embed' stage before it",
        "<dict>: stages[2].train: stage 'train' needs 'model', which no earlier stage provides; "
        "add the 'classify' stage before it",
        "<dict>: stages[2].train: stage 'train' needs 'labels', which no earlier stage provides; "
        "add the 'classify' stage before it",
    ]
    assert problems("translation", ["tokenize", "embed", "encode", "train"]) == [
        "<dict>: stages[3].train: stage 'train' needs 'model', which no earlier stage provides; "
        "add the 'decode' stage before it",
        "<dict>: stages[3].train: stage 'train' needs 'generator', which no earlier stage provides; "
        "add the 'decode' stage before it",
    ]


def test_a_task_adds_requirements_so_a_missing_generate_stage_fails_validation_at_its_line(tmp_path):
    # translation's evaluate reads the hypotheses of the generate stage; without it the run used to fail after training
    found = problems("translation", ["tokenize", "embed", "encode", "decode", "train", "evaluate", "export"],
                     path=tmp_path / "p.yaml")
    assert found == [f"{tmp_path / 'p.yaml'}:12: stages[5].evaluate: stage 'evaluate' needs 'hypotheses', which no "
                     "earlier stage provides; add the 'generate' stage before it"]


@pytest.mark.parametrize("tf_config, chief", [
    ({}, True),
    ({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c"], "worker": ["a"]}, "task": {"type": "chief", "index": 0}}, True),
    ({"cluster": {"chief": ["c"], "worker": ["a"]}, "task": {"type": "worker", "index": 0}}, False),
])
def test_only_the_chief_tracks(tf_config, chief):
    assert is_chief(tf_config) is chief


def test_context_refuses_undeclared_reads_and_writes(tmp_path):
    ctx = RunContext(config=None, run_dir=tmp_path, base_dir=tmp_path, tracker=None, log=None)
    ctx.put("splits", 0)  # the runner publishes before any stage runs
    ctx.begin_stage("embed", reads=("splits",), writes=("encoder",))
    ctx.put("encoder", 1)
    assert ctx["splits"] == 0
    with pytest.raises(ContractError, match="stage 'embed' published 'model' but declares only encoder"):
        ctx.put("model", 2)
    with pytest.raises(ContractError, match="stage 'embed' read artifact 'encoder' but declares only splits"):
        ctx["encoder"]
    with pytest.raises(ContractError, match="read artifact 'history'"):
        ctx.get("history")
    ctx.end_stage()
    assert ctx["encoder"] == 1


def test_context_names_a_declared_artifact_nobody_published(tmp_path):
    ctx = RunContext(config=None, run_dir=tmp_path, base_dir=tmp_path, tracker=None, log=None)
    ctx.begin_stage("train", reads=("model",), writes=())
    with pytest.raises(ContractError, match="needs artifact 'model', which no earlier stage published; have: none"):
        ctx["model"]
    assert ctx.get("model", "default") == "default"


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    from datetime import datetime
    from types import SimpleNamespace

    import seqpipe.runner as runner

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr(runner, "datetime", Frozen)
    config = SimpleNamespace(output_dir=str(tmp_path), name="p")
    (tmp_path / "p-20260102-030405").mkdir()  # another process (a parallel sweep trial) took the name first
    # ... and every check that a name is free comes too late: the other process creates it just after
    monkeypatch.setattr(runner.Path, "exists", lambda self: False)
    folders = [runner._run_dir(config) for _ in range(3)]
    monkeypatch.undo()
    assert [f.name for f in folders] == ["p-20260102-030405-2", "p-20260102-030405-3", "p-20260102-030405-4"]
    assert all(f.is_dir() for f in folders)


def test_a_metric_that_cannot_be_had_stops_the_run_before_any_data_is_read(tmp_path, monkeypatch):
    """meteor_1.5 without Java (and no way to install it) fails the run first, not after training."""
    from seqpipe.api import run
    from seqpipe.errors import DataError
    from seqpipe.metrics import METRICS

    def no_java():
        raise DataError("Java (for the METEOR 1.5 jar: meteor_1.5, meteor_coco) is not installed; run as root: ...")

    monkeypatch.setattr(METRICS.get("meteor_1.5"), "prepare", no_java)
    config = {"name": "preflight", "task": "translation", "output_dir": str(tmp_path / "runs"),
              "tracking": {"backend": "none"}, "data": {"source": {"path": "missing.tsv"}},
              "stages": ["tokenize", "embed", "encode", "decode", "train", "generate",
                         {"evaluate": {"metrics": ["bleu", "meteor_1.5"]}}]}
    with pytest.raises(DataError, match=r"^Java \(for the METEOR 1.5 jar"):
        run(config, base_dir=tmp_path)
