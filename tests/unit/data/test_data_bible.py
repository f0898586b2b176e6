"""The bible-en-es recipe, prepared from fake SWORD modules so neither apt nor pysword runs."""

from __future__ import annotations

import subprocess
import zlib
from types import SimpleNamespace

import pytest

from seqpipe.data.readers import read_table
from seqpipe.data.recipes import DATASETS, fetch
from seqpipe.data.recipes.bible_en_es import BibleEnEs, truecase
from seqpipe.data.recipes.fetch import apt_install
from seqpipe.errors import DataError

INSTALL = ("apt-get update && apt-get install -y --no-install-recommends "
           "sword-text-kjv sword-text-sparv")
ANNOUNCEMENT = (
    "seqpipe: bible-en-es: the SWORD modules engKJV2006eb, spaRV1909eb are not installed; "
    "installing the Debian packages sword-text-kjv, sword-text-sparv (apt-get install -y "
    "--no-install-recommends sword-text-kjv sword-text-sparv, after apt-get update if needed); "
    "set SEQPIPE_NO_SYSTEM_INSTALL=1 to print the command instead\n")

# Two books; Gen 1:3 has no Spanish verse (as where the versions split chapters differently).
ENGLISH = {
    ("Gen", 1, 1): "In the beginning God created the heaven and the earth. ",
    ("Gen", 1, 2): " ¶ And the earth was without form,\n and void.  ",
    ("Gen", 1, 3): "And God said, Let there be light. ",
    ("Gen", 2, 1): "Thus the heavens were finished. ",
    ("Gen", 2, 2): "And Sarai said unto Abram, Behold. ",
    ("Ps", 1, 1): "The \\nd LORD is my shepherd. ",
}
SPANISH = {
    ("Gen", 1, 1): "EN el principio crió Dios los cielos y la tierra. ",
    ("Gen", 1, 2): "Y la tierra\testaba desordenada y vacía. ",
    ("Gen", 1, 3): " ",
    ("Gen", 2, 1): "Y FUERON acabados los cielos, y fueron hechos. ",
    ("Gen", 2, 2): "Y SARAI dijo á Abram: Y dijo Sarai. ",
    ("Ps", 1, 1): "Salmo de David. ¿JEHOVÁ es mi pastor? A TI clamo, á ti. ",
}
ROWS = [
    ("In the beginning God created the heaven and the earth.",
     "En el principio crió Dios los cielos y la tierra."),
    ("And the earth was without form, and void.", "Y la tierra estaba desordenada y vacía."),
    ("Thus the heavens were finished.", "Y fueron acabados los cielos, y fueron hechos."),
    ("And Sarai said unto Abram, Behold.", "Y Sarai dijo á Abram: Y dijo Sarai."),
    ("The LORD is my shepherd.", "Salmo de David. ¿Jehová es mi pastor? A ti clamo, á ti."),
]


class FakeBible:
    """The slice of pysword's Bible API that the recipe uses."""

    def __init__(self, verses):
        self.verses = verses
        books = [SimpleNamespace(osis_name="Gen", chapter_lengths=[3, 2])]
        structure = {"ot": books, "nt": [SimpleNamespace(osis_name="Ps", chapter_lengths=[1])]}
        self.get_structure = lambda: SimpleNamespace(get_books=lambda: structure)

    def get(self, books, chapters, verses, clean=True):
        assert clean
        return self.verses.get((books[0], chapters[0], verses[0]), "")


@pytest.fixture
def sword(tmp_path, monkeypatch):
    """Installed fake modules; records each time they are opened; running apt fails the test."""
    (tmp_path / "sword" / "mods.d").mkdir(parents=True)
    for module in BibleEnEs.modules:
        (tmp_path / "sword" / "mods.d" / f"{module}.conf").write_text(f"[{module}]\n")
    opened = []

    def open_bibles(self, root):
        opened.append(root)
        return FakeBible(ENGLISH), FakeBible(SPANISH)

    def no_apt(*args, **kwargs):
        raise AssertionError("apt-get must not run")

    monkeypatch.setattr(BibleEnEs, "sword_dir", tmp_path / "sword")
    monkeypatch.setattr(BibleEnEs, "open_bibles", open_bibles)
    monkeypatch.setattr(BibleEnEs, "expected_rows", len(ROWS))
    monkeypatch.setattr(fetch.subprocess, "run", no_apt)
    return opened


def error(cache):
    with pytest.raises(DataError) as info:
        BibleEnEs().prepare(cache)
    return str(info.value)


def test_registered_as_a_translation_dataset():
    recipe = DATASETS.get("bible-en-es")
    assert recipe is BibleEnEs and not hasattr(recipe, "task")
    assert recipe.roles == ("source", "target") and recipe.expected_rows == 31084
    assert recipe.modules == ("engKJV2006eb", "spaRV1909eb")
    assert DATASETS.describe("bible-en-es") == (
        "English KJV / Spanish Reina-Valera 1909 Bible verse pairs (31,084)")


def test_pairs_cleaned_truecased_and_cached(sword, tmp_path):
    cache = tmp_path / "cache"
    tsv = BibleEnEs().prepare(cache)
    assert tsv == cache / "datasets" / "bible-en-es.tsv"
    assert tsv.read_text(encoding="utf-8") == "".join(
        f"{a}\t{b}\n" for a, b in [("source", "target"), *ROWS])
    assert sword == [tmp_path / "sword"]
    assert BibleEnEs().prepare(cache) == tsv and len(sword) == 1  # reused, not read again
    df = read_table(tsv, roles=["source", "target"])
    assert df.iloc[0].to_dict() == {"source": ROWS[0][0], "target": ROWS[0][1]}


def test_truecase_keeps_names_and_sentence_starts():
    assert truecase(["EN el principio.", "Y FUERON: AQUÍ", "Y JEHOVÁ dijo", "vio á Jehová",
                     "MENE, MENE", "á fueron"]) == [
        "En el principio.", "Y fueron: Aquí", "Y Jehová dijo", "vio á Jehová", "Mene, Mene",
        "á fueron"]


def test_wrong_pair_count_is_refused(sword, tmp_path, monkeypatch):
    monkeypatch.setattr(BibleEnEs, "expected_rows", 31084)
    assert error(tmp_path) == (
        f"bible-en-es: the SWORD modules in {tmp_path / 'sword'} gave 5 verse pairs; "
        "expected 31084; reinstall them as root: "
        "apt-get install -y --reinstall sword-text-kjv sword-text-sparv")
    assert not (tmp_path / "datasets" / "bible-en-es.tsv").exists()


@pytest.mark.parametrize("exc, reason", [(KeyError("spaRV1909eb"), "'spaRV1909eb'"),
                                         (zlib.error("invalid block type"), "invalid block type")])
def test_unreadable_modules_are_reported(sword, tmp_path, monkeypatch, exc, reason):
    def broken(self, root):
        raise exc

    monkeypatch.setattr(BibleEnEs, "open_bibles", broken)
    assert error(tmp_path) == (
        f"bible-en-es: could not read the SWORD modules in {tmp_path / 'sword'} ({reason}); "
        "reinstall them as root: apt-get install -y --reinstall sword-text-kjv sword-text-sparv")


@pytest.fixture
def missing(sword, tmp_path, monkeypatch):
    """The modules are not installed; apt-get exists; system installs are allowed."""
    for conf in (tmp_path / "sword" / "mods.d").iterdir():
        conf.unlink()
    monkeypatch.delenv("SEQPIPE_NO_SYSTEM_INSTALL", raising=False)
    monkeypatch.setattr(fetch.shutil, "which", lambda name: f"/usr/bin/{name}")
    return tmp_path


def test_not_root_names_the_command(missing, monkeypatch):
    monkeypatch.setattr(fetch.os, "geteuid", lambda: 1000)
    assert error(missing) == (
        "bible-en-es: the SWORD modules engKJV2006eb, spaRV1909eb are not installed; "
        f"run as root: {INSTALL}")


def test_no_apt_get_names_the_packages(missing, monkeypatch):
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    assert error(missing) == (
        "bible-en-es: the SWORD modules engKJV2006eb, spaRV1909eb are not installed and this "
        "system has no apt-get; install the Debian packages sword-text-kjv, sword-text-sparv "
        "(or your system's equivalent)")


def test_root_installs_with_apt_get_updating_once(missing, monkeypatch, capsys):
    calls = []

    def apt(command, **kwargs):
        calls.append(command)
        assert capsys.readouterr().err == (ANNOUNCEMENT if len(calls) == 1 else "")  # said once, first
        assert kwargs["env"]["DEBIAN_FRONTEND"] == "noninteractive"
        if len(calls) == 1:
            return subprocess.CompletedProcess(command, 100, "", "E: Unable to locate package x\n")
        if command[1] == "install":
            for module in BibleEnEs.modules:
                (missing / "sword" / "mods.d" / f"{module}.conf").write_text("")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(fetch.os, "geteuid", lambda: 0)
    monkeypatch.setattr(fetch.subprocess, "run", apt)
    BibleEnEs().prepare(missing)
    install = ["apt-get", "install", "-y", "--no-install-recommends",
               "sword-text-kjv", "sword-text-sparv"]
    assert calls == [install, ["apt-get", "update"], install]
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("value", ["1", "yes"])
def test_no_system_install_gives_the_command_instead(missing, monkeypatch, capsys, value):
    monkeypatch.setattr(fetch.os, "geteuid", lambda: 0)
    monkeypatch.setenv("SEQPIPE_NO_SYSTEM_INSTALL", value)
    assert error(missing) == (
        "bible-en-es: the SWORD modules engKJV2006eb, spaRV1909eb are not installed and "
        f"SEQPIPE_NO_SYSTEM_INSTALL is set; run as root: {INSTALL}")
    assert capsys.readouterr() == ("", "")  # the sword fixture fails the test if apt-get runs


@pytest.mark.parametrize("value", ["", "0"])
def test_no_system_install_empty_or_0_installs(monkeypatch, capsys, value):
    calls = []
    monkeypatch.setenv("SEQPIPE_NO_SYSTEM_INSTALL", value)
    monkeypatch.setattr(fetch.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(fetch.os, "geteuid", lambda: 0)
    monkeypatch.setattr(fetch.subprocess, "run", lambda command, **kwargs: calls.append(
        (command, capsys.readouterr().err)) or subprocess.CompletedProcess(command, 0, "", ""))
    apt_install(("wordnet",), "WordNet 3.0 is")
    announcement = ("seqpipe: WordNet 3.0 is not installed; installing the Debian packages wordnet "
                    "(apt-get install -y --no-install-recommends wordnet, after apt-get update if "
                    "needed); set SEQPIPE_NO_SYSTEM_INSTALL=1 to print the command instead\n")
    assert calls == [(["apt-get", "install", "-y", "--no-install-recommends", "wordnet"], announcement)]


def test_failed_apt_get_says_what_to_run(missing, monkeypatch):
    monkeypatch.setattr(fetch.os, "geteuid", lambda: 0)
    stderr = "W: offline\nE: Failed to fetch the package lists\n"
    monkeypatch.setattr(fetch.subprocess, "run",
                        lambda command, **kw: subprocess.CompletedProcess(command, 100, "", stderr))
    assert error(missing) == (
        "bible-en-es: the SWORD modules engKJV2006eb, spaRV1909eb are not installed and "
        f"apt-get failed (E: Failed to fetch the package lists); run it by hand as root: {INSTALL}")


