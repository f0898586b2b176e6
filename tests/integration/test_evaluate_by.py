"""evaluate.by: every metric again for each value of a data column, consistent with the whole split."""

import numpy as np
import pandas as pd
import pytest

PIPELINE = {
    "name": "by-group", "task": "classification", "seed": 1, "tracking": {"backend": "none"},
    "data": {"source": {"path": "reviews.csv"}, "split": {"valid": 0.2, "test": 0.3}},
    "stages": [{"tokenize": {"kind": "whitespace", "max_length": 8}}, {"embed": {"dim": 8}},
               {"encode": {"cell": "gru", "units": 8}}, {"classify": {}},
               {"train": {"epochs": 3, "batch_size": 16}},
               {"evaluate": {"by": "length", "metrics": ["accuracy", "macro_f1"]}}],
}


def write_data(path, rows=200):
    rng = np.random.default_rng(0)
    table = []
    for _ in range(rows):
        n = int(rng.integers(1, 4))
        label = str(rng.choice(["pos", "neg"]))
        words = [("good" if label == "pos" else "bad") if rng.random() < 0.7 else "meh" for _ in range(n)]
        table.append({"text": " ".join(words), "label": label, "length": n})
    pd.DataFrame(table).to_csv(path, index=False)


def test_metrics_by_group_add_up_to_the_split(tmp_path, monkeypatch):
    import seqpipe

    write_data(tmp_path / "reviews.csv")
    monkeypatch.chdir(tmp_path)
    result = seqpipe.run(PIPELINE, base_dir=tmp_path, progress=False)
    assert result.status == "FINISHED"
    table = pd.read_csv(result.run_dir / "evaluation" / "test_by_length.csv")
    assert table["length"].tolist() == [1, 2, 3]
    assert table["examples"].sum() == 60  # 30% of 200
    for _, row in table.iterrows():
        assert result.metrics[f"test_length_{int(row['length'])}_accuracy"] == pytest.approx(row["accuracy"])
    # accuracy is a mean over examples: the groups' accuracies, weighted by their sizes, give the split's
    weighted = float((table["accuracy"] * table["examples"]).sum() / table["examples"].sum())
    assert weighted == pytest.approx(result.metrics["test_accuracy"])
    predictions = pd.read_csv(result.run_dir / "evaluation" / "test_length_2_predictions.csv")
    assert len(predictions) == int(table.loc[table["length"] == 2, "examples"].iloc[0])
    assert (result.run_dir / "evaluation" / "test_by_length.png").stat().st_size > 1000


def test_a_missing_by_column_is_a_data_error_naming_the_file(tmp_path, monkeypatch):
    import seqpipe
    from seqpipe.errors import DataError

    write_data(tmp_path / "reviews.csv")
    monkeypatch.chdir(tmp_path)
    pipeline = {**PIPELINE, "stages": [*PIPELINE["stages"][:-1], {"evaluate": {"by": "depth"}}]}
    with pytest.raises(DataError, match=r"reviews\.csv.*depth"):
        seqpipe.run(pipeline, base_dir=tmp_path, progress=False)
