"""encode.kind and decode.kind: each kind reads its own keys; the others are named in warnings, and what a kind
cannot do is refused at validate time."""

from pathlib import Path

from seqpipe.api import load
from seqpipe.cli import main
from seqpipe.config.gpu import gpu_findings
from seqpipe.config.unread import unread_keys

REPO = Path(__file__).resolve().parents[3]
FLAGSHIP = REPO / "pipelines" / "translate_en_es.yaml"
TRANSFORMERS = ["encode.kind=transformer", "decode.kind=transformer"]


def test_keys_of_the_other_kind_are_warnings_naming_file_and_line(capsys):
    config, _, _ = load(FLAGSHIP, TRANSFORMERS)
    assert sorted(p for p, _ in unread_keys(config)) == [
        ("stages", "decode", "attention"), ("stages", "decode", "bridge"), ("stages", "decode", "cell"),
        ("stages", "decode", "input_feeding"), ("stages", "encode", "bidirectional"), ("stages", "encode", "cell")]
    assert main(["validate", str(FLAGSHIP), *(x for o in TRANSFORMERS for x in ("-o", o))]) == 0
    err = capsys.readouterr().err
    assert ("bilstm_bahdanau.yaml:5: stages[2].encode.cell: warning: not read by kind 'transformer' (it is a key of "
            "kind 'recurrent'), so it changes nothing here") in err
    # the recurrent flagship has none, and a Transformer key under a recurrent kind is named the same way
    assert unread_keys(load(FLAGSHIP)[0]) == []
    config, _, _ = load(FLAGSHIP, ["encode.heads=8"])
    assert [p for p, _ in unread_keys(config)] == [("stages", "encode", "heads")]


def test_a_transformer_stage_is_not_reported_as_stepping_recurrent_cells():
    reported = [p for p, _ in gpu_findings(load(FLAGSHIP)[0])]
    assert ("stages", "decode") in reported
    assert gpu_findings(load(FLAGSHIP, TRANSFORMERS)[0]) == []


def test_what_a_transformer_cannot_take_is_refused(capsys):
    assert main(["validate", str(FLAGSHIP), "-o", "decode.kind=transformer", "-o", "decode.heads=5"]) == 2
    err = capsys.readouterr().err
    assert "stages[3].decode.heads: the width (units: 256) must be a multiple of heads; got 5" in err
    assert main(["validate", str(FLAGSHIP), "-o", "encode.kind=transformer", "-o", "encode.units=100",
                 "-o", "encode.heads=8"]) == 2
    assert "encode.heads: the width (units: 100) must be a multiple of heads; got 8" in capsys.readouterr().err
    assert main(["validate", str(FLAGSHIP), "-o", "decode.kind=transformer",
                 "-o", "train.scheduled_sampling={schedule: linear}"]) == 2
    assert "train.scheduled_sampling: feeds a recurrent decoder its own tokens" in capsys.readouterr().err


def test_a_transformer_language_model_is_causal_and_refuses_stateful_windows(capsys):
    from seqpipe.tasks import TASKS

    assert TASKS.get("language_model").causal and not TASKS.get("translation").causal
    path = REPO / "pipelines" / "shakespeare_char_transformer.yaml"
    assert main(["validate", str(path), "-o", "train.stateful=true"]) == 2
    err = capsys.readouterr().err
    assert "stages[4].train.stateful: carries a recurrent state across windows; a Transformer" in err
    assert main(["validate", str(path), "-o", "encode.bidirectional=true"]) == 0  # a warning: not read
    assert "encode.bidirectional: warning: not read by kind 'transformer'" in capsys.readouterr().err
