import pytest

from seqpipe.errors import PipelineError
from seqpipe.pipeline.context import RunContext
from seqpipe.pipeline.runner import check_chain, is_chief


def test_full_chain_is_accepted():
    check_chain(["tokenize", "embed", "encode", "classify", "train", "evaluate", "export"], "classification")
    check_chain(["tokenize", "embed", "encode", "decode", "train", "generate", "evaluate", "export"], "translation")


def test_missing_providers_are_all_reported_with_the_stage_to_add():
    with pytest.raises(PipelineError) as info:
        check_chain(["tokenize", "encode", "train"], "classification")
    assert str(info.value).splitlines() == [
        "stages[1].encode: needs 'embedded', which no earlier stage provides; add the 'embed' stage before it",
        "stages[2].train: needs 'model', which no earlier stage provides; add the 'classify' stage before it",
    ]
    with pytest.raises(PipelineError) as info:
        check_chain(["tokenize", "embed", "encode", "train"], "translation")
    assert str(info.value) == "stages[3].train: needs 'model', which no earlier stage provides; add the 'decode' stage before it"


@pytest.mark.parametrize("tf_config, chief", [
    ({}, True),
    ({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a", "b"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c"], "worker": ["a"]}, "task": {"type": "chief", "index": 0}}, True),
    ({"cluster": {"chief": ["c"], "worker": ["a"]}, "task": {"type": "worker", "index": 0}}, False),
])
def test_only_the_chief_tracks(tf_config, chief):
    assert is_chief(tf_config) is chief


def test_context_refuses_undeclared_artifacts_and_names_missing_ones(tmp_path):
    ctx = RunContext(config=None, run_dir=tmp_path, base_dir=tmp_path, tracker=None, log=None)
    ctx._allowed = ("encoder",)
    ctx.put("encoder", 1)
    with pytest.raises(PipelineError, match="a stage published 'model' but declares only encoder"):
        ctx.put("model", 2)
    with pytest.raises(PipelineError, match=r"artifact 'splits' is not available; have: encoder"):
        ctx["splits"]
