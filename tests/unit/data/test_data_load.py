"""load_splits: from the configured source to train / valid / test frames."""

from __future__ import annotations

from seqpipe.data import load_splits, recipes
from seqpipe.data.config import DataConfig


def test_file_source_relative_to_the_pipeline_folder(tmp_path):
    (tmp_path / "data").mkdir()
    rows = [f"review {i},{'pos' if i % 4 else 'neg'}" for i in range(40)]
    (tmp_path / "data" / "x.csv").write_text("review,stars\n" + "\n".join(rows) + "\n")
    cfg = DataConfig(source={"path": "data/x.csv", "columns": {"text": "review", "label": "stars"},
                             "limit": 20},
                     split={"valid": 0.2, "test": 0.2})
    parts = load_splits(cfg, roles=["text", "label"], seed=1, base_dir=tmp_path)
    assert {name: len(part) for name, part in parts.items()} == {"train": 12, "valid": 4, "test": 4}
    assert list(parts["train"].columns) == ["text", "label"]
    assert set(parts["train"]["text"]) <= {f"review {i}" for i in range(40)}
    again = load_splits(cfg, roles=["text", "label"], seed=1, base_dir=tmp_path)
    assert all(parts[name].equals(again[name]) for name in parts)
    assert parts["test"]["label"].value_counts().to_dict() == {"pos": 3, "neg": 1}


def test_recipe_source_reads_the_prepared_tsv(tmp_path, monkeypatch):
    tsv = tmp_path / "sms-spam.tsv"
    tsv.write_text("text\tlabel\n" + "".join(f"msg {i}\t{'spam' if i < 5 else 'ham'}\n"
                                               for i in range(50)))
    monkeypatch.setattr(recipes, "prepare_recipe", lambda name: tsv)
    cfg = DataConfig(source={"recipe": "sms-spam"})
    parts = load_splits(cfg, roles=["text", "label"], seed=0, base_dir=tmp_path)
    assert {name: part["label"].value_counts().to_dict() for name, part in parts.items()} == {
        "train": {"ham": 36, "spam": 4}, "valid": {"ham": 5}, "test": {"ham": 4, "spam": 1}}
    text_only = load_splits(cfg, roles=["text"], seed=0, base_dir=tmp_path)
    assert list(text_only["test"].columns) == ["text"] and len(text_only["test"]) == 5
