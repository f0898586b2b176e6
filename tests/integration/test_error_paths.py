"""Unexpected errors: one line on the terminal, exit 3, traceback in run.log, earlier outputs kept."""

from pathlib import Path

from seqpipe.cli import main
from seqpipe.stages.embed import EmbedStage


def test_a_bug_in_a_stage_exits_3_with_the_traceback_in_the_run_log(tmp_path, monkeypatch, capsys):
    rows = ["text\tlabel"] + [f"{w} film number {i}\t{'pos' if w == 'good' else 'neg'}"
                             for i in range(20) for w in ("good", "bad")]
    (tmp_path / "d.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        "name: boom\ntask: classification\ntracking: {backend: none}\n"
        "data: {source: {path: d.tsv}, split: {valid: 0.2, test: 0.2}}\n"
        "stages: [tokenize, embed, encode, classify]\n", encoding="utf-8")

    def broken(self, ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(EmbedStage, "run", broken)
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(pipeline), "--no-progress"]) == 3
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("seqpipe: internal error: RuntimeError: boom (traceback in ")
    log = Path(last.split("traceback in ")[1].rstrip(")"))
    assert "Traceback (most recent call last)" in log.read_text()
    assert "Traceback" not in err
    assert (log.parent / "vocab.txt").read_text().startswith("[PAD]\n[UNK]\n")  # the tokenize stage's output is kept
    assert (log.parent / "resolved.yaml").exists()
