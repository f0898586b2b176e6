"""Brown -> universal tag mapping (data.source.tagset) and its configuration."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from seqpipe.data import load_splits, recipes
from seqpipe.data.config import DataConfig, SourceConfig
from seqpipe.data.recipes.storage import write_jsonl
from seqpipe.data.tagsets import UNIVERSAL_TAGS, brown_universal_table, map_tags, universal_tag


def test_the_published_table_loads():
    table = brown_universal_table()
    assert len(table) == 470
    assert set(table.values()) == set(UNIVERSAL_TAGS)
    assert len(UNIVERSAL_TAGS) == 12
    assert all(tag == tag.strip() and " " not in tag for tag in table)
    assert [tag for tag in table if tag.startswith("FW-") and table[tag] != "X"] == []
    assert "NR-TL" not in table and "NR-TL-HL" not in table  # missing upstream; mapped by rule


@pytest.mark.parametrize("tag, universal", [
    ("AT", "DET"), ("NN", "NOUN"), ("NNS", "NOUN"), ("NP", "NOUN"), ("NP$", "NOUN"),
    ("JJ", "ADJ"), ("OD", "ADJ"), ("RB", "ADV"), ("QL", "ADV"), ("*", "ADV"), ("IN", "ADP"),
    ("CS", "ADP"), ("CC", "CONJ"), ("CD", "NUM"), ("PPS", "PRON"), ("PPO", "PRON"),
    ("PP$", "DET"), ("WDT", "DET"), ("TO", "PRT"), ("RP", "PRT"), ("UH", "PRT"),
    ("VB", "VERB"), ("VBD", "VERB"), ("BEZ", "VERB"), ("HVD", "VERB"), ("MD", "VERB"),
    (".", "."), (",", "."), ("``", "."), ("''", "."), ("--", "."), ("(", "."), (":", "."),
    ("NIL", "X"), ("FW-NN", "X"), ("FW-IN+AT-TL", "X"),
    # compound tags in the table
    ("NN-TL", "NOUN"), ("VBD-HL", "VERB"), ("AT-TL-HL", "DET"), ("NNS$-TL-HL", "NOUN"),
    ("CD-NC", "NUM"), ("IN+PPO", "ADP"), ("VB+PPO", "VERB"), ("MD+PPSS", "VERB"),
    # contractions of a pronoun, noun or wh-word with a verb: PRT in the published table
    ("PPS+BEZ", "PRT"), ("PPSS+MD", "PRT"), ("NP+BEZ", "PRT"), ("WRB+DOD*", "PRT"),
])
def test_known_tags_map_as_in_the_published_table(tag, universal):
    assert universal_tag(tag) == universal


@pytest.mark.parametrize("tag, universal", [
    ("NR-TL", "NOUN"), ("NR-TL-HL", "NOUN"),  # in the corpus, missing from the table
    ("VBD-TL-HL", "VERB"), ("NN-HL-NC", "NOUN"), ("PPS-TL-HL", "PRON"),  # markers stripped
    ("FW-XYZ", "X"), ("FW-NN-TL-HL", "X"),  # foreign words
    ("PPO+BEZ", "PRON"), ("VBZ+PPO-HL", "VERB"), ("NN+VBD-TL", "NOUN"),  # by the first part
    ("XYZ", "X"), ("XYZ-TL", "X"), ("XYZ+NN", "X"), ("+NN", "X"), ("nn", "X"), ("", "X"),
])
def test_tags_missing_from_the_table_map_by_rule(tag, universal):
    assert tag not in brown_universal_table()
    assert universal_tag(tag) == universal


def test_map_tags_maps_space_joined_sentences():
    tags = ["AT NP-TL NN-TL VBD .", "PPS+BEZ CD", "NR-TL"]
    assert map_tags(tags, "universal") == ["DET NOUN NOUN VERB .", "PRT NUM", "NOUN"]
    assert map_tags(tags, "original") == tags and map_tags(tags, "original") is not tags
    with pytest.raises(ValueError, match="^unknown tagset 'ptb'; expected one of original, "
                                         "universal$"):
        map_tags(tags, "ptb")


def test_tagset_in_the_config():
    assert SourceConfig(recipe="brown").tagset == "original"
    assert SourceConfig(recipe="brown", tagset="universal").tagset == "universal"
    field = SourceConfig.model_json_schema()["properties"]["tagset"]
    assert field["enum"] == ["original", "universal"] and field["default"] == "original"
    assert field["description"].startswith("Tags to train on: 'original' keeps the source's "
                                           "tags; 'universal' maps Brown tags to the 12 universal "
                                           "tags of Petrov, Das & McDonald (2012)")


@pytest.mark.parametrize("values, got", [
    ({"recipe": "sms-spam"}, "source.recipe: sms-spam"),
    ({"path": "brown.conll"}, "source.path"),
])
def test_universal_needs_the_brown_recipe(values, got):
    with pytest.raises(ValidationError) as info:
        SourceConfig(**values, tagset="universal")
    assert [error["msg"] for error in info.value.errors()] == [
        "Value error, source.tagset: universal maps Brown corpus tags and needs source.recipe: "
        f"brown; got {got} (use tagset: original, the default)"]
    with pytest.raises(ValidationError) as info:
        SourceConfig(recipe="brown", tagset="penn")
    assert [error["msg"] for error in info.value.errors()] == [
        "Input should be 'original' or 'universal'"]


def brown_table(tmp_path, monkeypatch):
    rows = [(f"w{i} x{i} .", "AT NN-TL ." if i % 2 else "PPS+BEZ NR-TL .", f"c{'ab'[i % 2]}{i:02d}",
             "news") for i in range(20)]
    path = tmp_path / "brown.jsonl"
    write_jsonl(path, ("tokens", "tags", "document", "category"), rows)
    monkeypatch.setattr(recipes, "prepare_recipe", lambda name: path)
    return rows


@pytest.mark.parametrize("tagset", ["original", "universal"])
def test_load_splits_maps_the_tags_before_splitting(tmp_path, monkeypatch, tagset):
    rows = brown_table(tmp_path, monkeypatch)
    cfg = DataConfig(source={"recipe": "brown", "tagset": tagset, "limit": 10},
                     split={"valid": 0.2, "test": 0.2})
    parts = load_splits(cfg, roles=["tokens", "tags"], seed=0, base_dir=tmp_path)
    assert [len(parts[name]) for name in parts] == [6, 2, 2]
    expected = {row[0]: row[1] for row in rows}
    for part in parts.values():
        assert list(part.columns) == ["tokens", "tags"]
        for tokens, tags in part.itertuples(index=False, name=None):
            want = expected[tokens]
            assert tags == (want if tagset == "original" else map_tags([want], "universal")[0])
    if tagset == "universal":
        assert {tags for part in parts.values() for tags in part["tags"]} == {
            "DET NOUN .", "PRT NOUN ."}
    # the same rows land in the same splits whichever the tagset
    again = load_splits(cfg.model_copy(update={"source": SourceConfig(
        recipe="brown", limit=10)}), roles=["tokens", "tags"], seed=0, base_dir=tmp_path)
    assert all(list(parts[name]["tokens"]) == list(again[name]["tokens"]) for name in parts)


def test_load_splits_with_group_by_and_universal_tags(tmp_path, monkeypatch):
    brown_table(tmp_path, monkeypatch)
    cfg = DataConfig(source={"recipe": "brown", "tagset": "universal"},
                     split={"valid": 0.1, "test": 0.1, "group_by": "document"})
    parts = load_splits(cfg, roles=["tokens", "tags"], seed=1, base_dir=tmp_path)
    assert sum(len(part) for part in parts.values()) == 20
    assert all(set(" ".join(part["tags"]).split()) <= set(UNIVERSAL_TAGS)
               for part in parts.values())
