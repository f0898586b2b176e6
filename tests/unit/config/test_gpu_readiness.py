"""GPU readiness without a GPU: validate warns, naming the key, for every recurrent part that loses the fused kernel."""

from pathlib import Path

from seqpipe.api import load
from seqpipe.cli import main
from seqpipe.config.gpu import gpu_findings

REPO = Path(__file__).resolve().parents[3]


def test_the_default_classifier_keeps_the_fused_kernel_everywhere():
    config, _, _ = load(REPO / "pipelines" / "sentiment_bilstm.yaml")
    assert gpu_findings(config) == []


def test_every_recurrent_part_that_loses_it_is_named(capsys):
    path = REPO / "pipelines" / "pos_brown_bilstm.yaml"
    config, _, _ = load(path, ["encode.cell={kind: lstm, peepholes: true}", "embed.chars.cell=rnn"])
    assert [p for p, _ in gpu_findings(config)] == [("stages", "embed", "chars", "cell"), ("stages", "encode", "cell")]
    assert main(["validate", str(path), "-o", "encode.recurrent_dropout=0.2"]) == 0  # warnings, not errors
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].endswith("stages[2].encode.cell: warning: recurrent_dropout > 0 disables the "
                                             "cuDNN kernel; this layer loses the fused GPU kernel")


def test_the_attention_decoder_is_reported_as_stepping_its_cells(capsys):
    path = REPO / "pipelines" / "translate_en_es.yaml"
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert ("stages[3].decode: warning: stage 'decode' steps its recurrent cells one at a time, so it never runs the "
            "fused (cuDNN) kernel") in err
    config, _, _ = load(path, ["encode.skip_delay=2"])
    assert any("skip_delay" in why for _, why in gpu_findings(config))
