"""evaluate.by, for every task: the scores of each group equal the scores computed by hand on that group's rows of
the per-example table the run wrote (the model runs once per split; groups only filter its rows)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

WORDS = "the a red blue green cat dog bird sees likes follows near".split()


def run(tmp_path, monkeypatch, task, data, stages, split=None):
    import seqpipe

    monkeypatch.chdir(tmp_path)
    pipeline = {"name": f"by-{task}", "task": task, "seed": 1, "tracking": {"backend": "none"},
                "data": {"source": {"path": data}, "split": split or {"valid": 0.2, "test": 0.3}},
                "stages": stages}
    result = seqpipe.run(pipeline, base_dir=tmp_path, progress=False)
    assert result.status == "FINISHED"
    return result


def check_groups(result, by, table, score, scored_keys):
    """Every group's logged scores and by-table row equal ``score(rows of the group)``; the split's too."""
    groups = pd.read_csv(result.run_dir / "evaluation" / f"test_by_{by}.csv", dtype={by: str})
    values = table[by].astype(str)
    assert sorted(groups[by]) == sorted(values.unique())
    assert groups["examples"].sum() == len(table)
    for _, row in groups.iterrows():
        rows = table[(values == str(row[by])).to_numpy()]
        expected = score(rows)
        assert len(rows) == row["examples"]
        for key in scored_keys:
            assert row[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-9), (by, row[by], key)
            assert result.metrics[f"test_{by}_{row[by]}_{key}"] == pytest.approx(expected[key], rel=1e-6, abs=1e-9)
    whole = score(table)
    for key in scored_keys:
        assert result.metrics[f"test_{key}"] == pytest.approx(whole[key], rel=1e-6, abs=1e-9), key


def test_classification(tmp_path, monkeypatch):
    from sklearn.metrics import accuracy_score, f1_score

    rng = np.random.default_rng(0)
    rows = []
    for _ in range(200):
        n = int(rng.integers(1, 4))
        label = str(rng.choice(["pos", "neg"]))
        rows.append({"text": " ".join(("good" if label == "pos" else "bad") if rng.random() < 0.7 else "meh"
                                      for _ in range(n)), "label": label, "length": n})
    pd.DataFrame(rows).to_csv(tmp_path / "reviews.csv", index=False)
    result = run(tmp_path, monkeypatch, "classification", "reviews.csv", [
        {"tokenize": {"kind": "whitespace", "max_length": 8}}, {"embed": {"dim": 8}},
        {"encode": {"cell": "gru", "units": 8}}, {"classify": {}}, {"train": {"epochs": 2, "batch_size": 16}},
        {"evaluate": {"by": "length", "metrics": ["accuracy", "macro_f1"]}}, {"export": {"log_model": False}}])
    table = pd.read_csv(result.run_dir / "evaluation" / "test_predictions.csv")
    assert len(table) == 60 and {"text", "label", "length", "predicted"} <= set(table.columns)

    def score(rows):
        return {"accuracy": accuracy_score(rows["label"], rows["predicted"]),
                "macro_f1": f1_score(rows["label"], rows["predicted"], labels=["neg", "pos"], average="macro",
                                     zero_division=0)}

    check_groups(result, "length", table, score, ["accuracy", "macro_f1"])
    assert (result.run_dir / "evaluation" / "test_by_length.png").stat().st_size > 1000


def test_regression(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(200):
        ups = int(rng.integers(0, 6))
        words = ["up"] * ups + ["flat"] * int(rng.integers(1, 4))
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "target": ups / 10, "parity": ups % 2})
    pd.DataFrame(rows).to_csv(tmp_path / "numbers.csv", index=False)
    result = run(tmp_path, monkeypatch, "regression", "numbers.csv", [
        {"tokenize": {"kind": "whitespace", "max_length": 10}}, {"embed": {"dim": 8}},
        {"encode": {"cell": "gru", "units": 8}}, {"regress": {}}, {"train": {"epochs": 2, "batch_size": 16}},
        {"evaluate": {"by": "parity", "metrics": ["mse", "mae"]}}, {"export": {"log_model": False}}],
        split={"valid": 0.2, "test": 0.3, "stratify": False})
    table = pd.read_csv(result.run_dir / "evaluation" / "test_predictions.csv")

    def score(rows):
        error = rows["prediction"] - rows["target"]
        return {"mse": float(np.mean(error ** 2)), "mae": float(np.mean(np.abs(error)))}

    check_groups(result, "parity", table, score, ["mse", "mae"])


def test_tagging(tmp_path, monkeypatch):
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(2)
    tag = {"the": "DET", "a": "DET", "red": "ADJ", "blue": "ADJ", "green": "ADJ", "cat": "NOUN", "dog": "NOUN",
           "bird": "NOUN", "sees": "VERB", "likes": "VERB", "follows": "VERB", "near": "ADP"}
    rows = []
    for _ in range(160):
        words = list(rng.choice(WORDS, size=int(rng.integers(2, 7))))
        rows.append({"tokens": " ".join(words), "tags": " ".join(tag[w] for w in words),
                     "long": "yes" if len(words) > 4 else "no"})
    pd.DataFrame(rows).to_csv(tmp_path / "tags.tsv", sep="\t", index=False)
    result = run(tmp_path, monkeypatch, "tagging", "tags.tsv", [
        {"tokenize": {"max_length": 10}}, {"embed": {"dim": 8}}, {"encode": {"cell": "gru", "units": 8}}, {"tag": {}},
        {"train": {"epochs": 2, "batch_size": 16}},
        {"evaluate": {"by": "long", "metrics": ["token_accuracy", "tag_macro_f1"]}}, {"export": {"log_model": False}}])
    table = pd.read_csv(result.run_dir / "evaluation" / "test_tags.tsv", sep="\t", keep_default_na=False)

    def score(rows):
        gold = [t for tags in rows["tags"] for t in tags.split()]
        pred = [t for tags in rows["predicted"] for t in tags.split()]
        return {"token_accuracy": float(np.mean([g == p for g, p in zip(gold, pred)])),
                "tag_macro_f1": f1_score(gold, pred, average="macro", labels=sorted(set(gold) | set(pred)),
                                         zero_division=0)}

    check_groups(result, "long", table, score, ["token_accuracy", "tag_macro_f1"])


def test_translation(tmp_path, monkeypatch):
    import sacrebleu

    rng = np.random.default_rng(3)
    rows = []
    for _ in range(240):
        words = list(rng.choice(WORDS, size=int(rng.integers(2, 6))))
        rows.append({"source": " ".join(words), "target": " ".join(reversed(words)), "length": len(words)})
    pd.DataFrame(rows).to_csv(tmp_path / "pairs.tsv", sep="\t", index=False)
    result = run(tmp_path, monkeypatch, "translation", "pairs.tsv", [
        {"tokenize": {"kind": "whitespace", "max_length": 8}}, {"embed": {"dim": 16}},
        {"encode": {"cell": "gru", "units": 16}}, {"decode": {"cell": "gru", "units": 16}},
        {"train": {"epochs": 2, "batch_size": 16, "validation_subset": 0}},
        {"generate": {"decoding": {"strategy": "beam", "beam_width": 2}, "heatmaps": 0}},
        {"evaluate": {"by": "length", "metrics": ["bleu", "chrf"]}}, {"export": {"log_model": False}}])
    table = pd.read_csv(result.run_dir / "evaluation" / "test_translations.tsv", sep="\t", keep_default_na=False)
    assert {"source", "reference", "length", "hypothesis", "hypothesis_greedy"} <= set(table.columns)

    def score(rows):
        refs = [rows["reference"].tolist()]
        return {f"{m}{s}": getattr(sacrebleu, f"corpus_{m}")(rows[f"hypothesis{s}"].tolist(), refs).score
                for m in ("bleu", "chrf") for s in ("", "_greedy")}

    check_groups(result, "length", table, score, ["bleu", "chrf", "bleu_greedy", "chrf_greedy"])


def test_captioning(tmp_path, monkeypatch):
    import sacrebleu

    from seqpipe.data.recipes import DATASETS

    prepared = pd.read_csv(DATASETS.get("shapes-captions")().prepare(tmp_path / "shapes", {
        "examples": 120, "image_size": 16}), sep="\t")
    prepared["shapes"] = np.where(prepared["caption"].str.contains(" of | above | below "), "two", "one")
    prepared.to_csv(tmp_path / "captions.tsv", sep="\t", index=False)
    result = run(tmp_path, monkeypatch, "captioning", "captions.tsv", [
        {"tokenize": {"kind": "whitespace", "max_length": 12}},
        {"see": {"blocks": [{"filters": 8}], "image_size": [16, 16]}}, {"caption": {"units": 16, "embed_dim": 8}},
        {"train": {"epochs": 2, "batch_size": 16, "validation_subset": 0}},
        {"describe": {"decoding": {"strategy": "greedy"}, "attention_maps": 0}},
        {"evaluate": {"by": "shapes", "metrics": ["bleu", "chrf"]}}, {"export": {"log_model": False}}],
        split={"valid": 0.2, "test": 0.3, "group_by": "image"})
    table = pd.read_csv(result.run_dir / "evaluation" / "test_captions.tsv", sep="\t", keep_default_na=False)
    assert set(table["shapes"]) == {"one", "two"} and table["image"].is_unique

    def score(rows):
        references = [refs.split(" | ") for refs in rows["references"]]
        streams = [[refs[j] if j < len(refs) else None for refs in references]
                   for j in range(max(map(len, references)))]
        return {"bleu": sacrebleu.corpus_bleu(rows["hypothesis"].tolist(), streams).score,
                "chrf": sacrebleu.corpus_chrf(rows["hypothesis"].tolist(), streams).score}

    check_groups(result, "shapes", table, score, ["bleu", "chrf"])


def test_language_model(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    rows = [{"text": " ".join(rng.choice(WORDS[:6] if topic == "colours" else WORDS[5:], size=int(rng.integers(3, 9)))),
             "topic": topic} for topic in ("colours", "animals") for _ in range(80)]
    pd.DataFrame(rows).sample(frac=1, random_state=0).to_csv(tmp_path / "lines.tsv", sep="\t", index=False)
    result = run(tmp_path, monkeypatch, "language_model", "lines.tsv", [
        {"tokenize": {"kind": "word"}}, {"embed": {"dim": 8}}, {"encode": {"cell": "gru", "units": 16}}, {"lm": {}},
        {"train": {"epochs": 2, "batch_size": 8, "window": 12}},
        {"evaluate": {"by": "topic", "shuffled_pairs": 0}}, {"export": {"log_model": False}}],
        split={"valid": 0.2, "test": 0.3, "stratify": False})
    table = pd.read_csv(result.run_dir / "evaluation" / "test_scores.tsv", sep="\t")
    assert (table["num_tokens"] > 0).all()

    def score(rows):
        loss = -rows["log_prob"].sum() / rows["num_tokens"].sum()
        return {"loss": loss, "perplexity": math.exp(loss), "bits_per_token": loss / math.log(2)}

    check_groups(result, "topic", table, score, ["loss", "perplexity", "bits_per_token"])


def test_a_missing_by_column_is_a_data_error_naming_the_file(tmp_path, monkeypatch):
    import seqpipe
    from seqpipe.errors import DataError

    pd.DataFrame({"text": ["good", "bad"] * 20, "label": ["pos", "neg"] * 20}).to_csv(tmp_path / "reviews.csv",
                                                                                     index=False)
    monkeypatch.chdir(tmp_path)
    pipeline = {"name": "by", "task": "classification", "tracking": {"backend": "none"},
                "data": {"source": {"path": "reviews.csv"}}, "stages": [
                    {"tokenize": {}}, {"embed": {"dim": 4}}, {"encode": {"units": 4}}, {"classify": {}},
                    {"train": {"epochs": 1}}, {"evaluate": {"by": "depth"}}]}
    with pytest.raises(DataError, match=r"reviews\.csv.*depth"):
        seqpipe.run(pipeline, base_dir=tmp_path, progress=False)
