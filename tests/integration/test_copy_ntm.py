"""End to end: the smoke variant of pipelines/copy_ntm.yaml (an NTM tagger on the variable-length copy task, scored
per length on a fixed longer test split, with the read/write heatmaps), and a dry run of the full sweep."""

import pandas as pd

from tests.integration.conftest import REPO, seqpipe


def test_the_copy_ntm_smoke_run(tmp_path, monkeypatch):
    import seqpipe as sp

    monkeypatch.chdir(tmp_path)
    result = sp.run(REPO / "pipelines" / "smoke" / "copy_ntm.yaml", ["tracking.backend=none"], progress=False)
    assert result.status == "FINISHED"
    evaluation = result.run_dir / "evaluation"
    table = pd.read_csv(evaluation / "test_by_length.csv")
    assert table["length"].tolist() == list(range(1, 7))  # the fixed test split: K = 1..6, training K = 1..3
    assert table["examples"].sum() == 30
    for _, row in table.iterrows():
        assert result.metrics[f"test_length_{int(row['length'])}_token_accuracy"] == row["token_accuracy"]
    [trace] = evaluation.glob("test_cell_trace_*.png")
    assert trace.name == "test_cell_trace_encoder_ntm_0.png" and trace.stat().st_size > 1000
    train = pd.read_csv(result.run_dir / "history.csv")
    assert len(train) == 1


def test_the_full_sweep_lists_the_ntm_and_the_lstm(tmp_path):
    proc = seqpipe("sweep", str(REPO / "pipelines" / "copy_ntm.yaml"), "--dry-run", cwd=tmp_path)
    trials = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("trial ")]
    assert len(trials) == 2 and "'kind': 'ntm'" in trials[0] and trials[1] == "trial 2: encode.cell=lstm"
