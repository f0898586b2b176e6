"""Translation metrics: sacrebleu's command line, nltk's documented METEOR values, the fallback, the languages."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import zipfile
from pathlib import Path

import nltk
import pytest
import sacrebleu

from seqpipe.data.recipes import fetch
from seqpipe.errors import DataError, SeqpipeError
from seqpipe.metrics import (
    METRICS,
    languages,
    meteor_backend,
    meteor_jar,
    metric_names,
    sentence_scores,
    signatures,
    wordnet,
)
from seqpipe.metrics.registry import prepare_metrics

HYPOTHESES = ["El gato está en la alfombra.", "Dijo Dios: sea la luz, y la luz fue.",
              "en el principio creó dios el cielo y la tierra", "¿Quién eres tú?", ""]
REFERENCES = ["El gato se sentó en la alfombra.", "Y dijo Dios: Sea la luz: y fué la luz.",
              "En el principio crió Dios los cielos y la tierra.", "¿Quién eres?", "Amén."]

# nltk's documented examples: meteor_score.py docstrings and test/meteor.doctest. nltk computes them with its
# default Porter stemmer; ``meteor`` stems with Snowball English (as METEOR 1.5 does) and gets the same values.
METEOR_EXAMPLES = [
    ("It is a guide to action which ensures that the military always obeys the commands of "
     "the party",
     "It is a guide to action that ensures that the military will forever heed Party commands",
     0.6944),
    ("non matching hypothesis", "this is a cat", 0.0),
    ("John loves Mary", "The candidate has no alignment to any of the references", 0.0),
    ("The cat sat on the mat", "The cat sat on the mat", 0.9977),
    ("on the mat sat the cat", "The cat sat on the mat", 0.5),
    ("The cat was sat on the mat", "The cat sat on the mat", 0.9654),
    ("creates or updates a virtual machine scale set", "create or update a vm set", 0.7806),
]
SYNONYMS = (["the car is red"], ["the auto is red"])  # car and auto share a synset
NO_WORDNET = ("WordNet 3.0 ({}) is not installed; run as root: apt-get update && "
              "apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index")


def sacrebleu_cli(tmp_path, *options):
    (tmp_path / "hyp.txt").write_text("\n".join(HYPOTHESES) + "\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("\n".join(REFERENCES) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "sacrebleu", str(tmp_path / "ref.txt"),
               "-i", str(tmp_path / "hyp.txt"), "-w", "4", *options]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def test_every_metric_names_the_kind_of_prediction_it_scores():
    assert metric_names("texts") == ["bleu", "bleu_1", "bleu_2", "bleu_3", "bleu_4", "chrf", "cider_d", "meteor",
                                     "meteor_1.5", "meteor_coco", "rouge_l", "ter"]
    assert metric_names("labels") == [
        "accuracy", "macro_f1", "macro_precision", "macro_recall", "weighted_f1"]
    assert {METRICS.get(name).scores for name in METRICS} == {"labels", "numbers", "tag_sequences", "texts"}
    assert METRICS.describe("bleu") == (
        "Corpus BLEU, 0-100 (sacrebleu defaults: 13a tokens, case kept, exp smoothing).")


def test_bleu_chrf_ter_equal_the_sacrebleu_command_line(tmp_path):
    printed = json.loads(sacrebleu_cli(tmp_path, "-m", "bleu", "chrf", "ter"))
    assert [entry["name"] for entry in printed] == ["BLEU", "chrF2", "TER"]
    ours = {name: METRICS.get(name)(HYPOTHESES, REFERENCES) for name in ("bleu", "chrf", "ter")}
    assert [f"{value:.4f}" for value in ours.values()] == [
        f"{entry['score']:.4f}" for entry in printed]
    assert signatures() == {name: entry["signature"] for name, entry in zip(ours, printed)}
    assert signatures()["bleu"] == (
        f"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:{sacrebleu.__version__}")


def test_sentence_scores_equal_the_sacrebleu_command_line(tmp_path):
    table = sentence_scores(HYPOTHESES, REFERENCES)
    assert list(table.columns) == ["hypothesis", "reference", "bleu", "chrf"]
    assert table["hypothesis"].tolist() == HYPOTHESES
    for name in ("bleu", "chrf"):
        printed = sacrebleu_cli(tmp_path, "-m", name, "--sentence-level", "-b").split()
        assert [f"{value:.4f}" for value in table[name]] == printed


@pytest.mark.parametrize("name", ["bleu", "chrf", "ter", "meteor", "meteor_1.5"])
def test_mismatched_or_empty_inputs_are_refused(name):
    with pytest.raises(ValueError, match="^2 hypotheses but 1 references$"):
        METRICS.get(name)(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="^no sentences to score$"):
        METRICS.get(name)([], [])


def test_lexnames_follow_the_wordnet_manual():
    lines = wordnet.lexnames().splitlines()
    assert len(lines) == 45
    assert [lines[i] for i in (0, 1, 2, 3, 18, 28, 29, 43, 44)] == [
        "00\tadj.all\t3", "01\tadj.pert\t3", "02\tadv.all\t4", "03\tnoun.Tops\t1",
        "18\tnoun.person\t1", "28\tnoun.time\t1", "29\tverb.body\t2", "43\tverb.weather\t2",
        "44\tadj.ppl\t3"]


def test_meteor_without_wordnet_falls_back_and_says_so(tmp_path, fresh_meteor, caplog):
    fresh_meteor.setenv("SEQPIPE_CACHE", str(tmp_path))
    fresh_meteor.setattr(wordnet, "DEBIAN_DIR", tmp_path / "none")
    fresh_meteor.setattr(fetch.shutil, "which", lambda name: f"/usr/bin/{name}")
    fresh_meteor.setattr(fetch.os, "geteuid", lambda: 1000)
    with caplog.at_level(logging.WARNING, logger="seqpipe.metrics.text_scores"):
        assert round(METRICS.get("meteor")(["The cat was sat on the mat"],
                                           ["The cat sat on the mat"]), 4) == 0.9654
        assert round(METRICS.get("meteor")(*SYNONYMS), 4) == 0.6389  # car != auto now
    reason = NO_WORDNET.format(tmp_path / "none")
    assert meteor_backend() == (f"nltk {nltk.__version__} meteor_score, Snowball english stemmer, "
                                f"no synonyms (WordNet unavailable: {reason})")
    assert caplog.messages == [  # once per process, not per call
        "METEOR WITHOUT WORDNET: matching exact words and stems only; scores can be lower than, "
        f"and are not comparable with, METEOR using WordNet ({reason})"]


def test_importing_metrics_stays_light():
    code = ("import sys, seqpipe.metrics; print(sorted(set(sys.modules) & "
            "{'tensorflow', 'nltk', 'sacrebleu', 'pandas', 'sklearn'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


JAR_REPORT = """Meteor version: 1.5

Segment 1 score:\t0.44736091739438233
Segment 2 score:\t1.0

Final score:            0.503185843639056
"""


@pytest.fixture
def fake_wheel(tmp_path, monkeypatch):
    """A cache whose downloads hold a small stand-in for the pycocoevalcap wheel; no pip."""
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path))
    (tmp_path / "downloads").mkdir()
    with zipfile.ZipFile(tmp_path / "downloads" / meteor_jar.WHEEL, "w") as zf:
        for name, member in meteor_jar.MEMBERS.items():
            zf.writestr(member, f"fake {name}")
    monkeypatch.setattr(fetch.subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    return tmp_path


def test_meteor_1_5_runs_the_jar_from_the_wheel(fake_wheel, monkeypatch):
    calls = []

    def java(command, cwd, **kwargs):
        calls.append((command, Path(cwd, "hyp.txt").read_text(), Path(cwd, "ref.txt").read_text()))
        return subprocess.CompletedProcess(command, 0, JAR_REPORT, "")

    monkeypatch.setattr(meteor_jar.shutil, "which", lambda name: "/usr/bin/java")
    monkeypatch.setattr(meteor_jar.subprocess, "run", java)
    assert METRICS.get("meteor_1.5")(["a  b\nc", ""], ["a b c", "d"]) == 0.503185843639056
    folder = fake_wheel / "meteor-1.5"
    jar = ["/usr/bin/java", "-Xmx2G", "-jar", str(folder / "meteor-1.5.jar"), "hyp.txt", "ref.txt"]
    assert calls == [([*jar, "-l", "en", "-m", "exact stem synonym paraphrase", "-norm"], "a b c\n\n", "a b c\nd\n")]
    assert (folder / "data" / "paraphrase-en.gz").read_text() == "fake data/paraphrase-en.gz"
    calls.clear()
    METRICS.get("meteor_1.5")(["Dijo: «sí»."], ["dijo sí"], language="es")
    METRICS.get("meteor_1.5")(["Disse: «sì»."], ["disse sì"], language="it")  # no -norm: tokenized here
    METRICS.get("meteor_1.5")(["قال: نعم."], ["قال نعم"], language="ar")  # -l ar is unknown to the jar
    assert calls == [([*jar, "-l", "es", "-m", "exact stem", "-norm"], "Dijo: «sí».\n", "dijo sí\n"),
                     ([*jar, "-l", "it", "-m", "exact stem", "-lower"], "Disse : « sì » .\n", "disse sì\n"),
                     ([*jar, "-l", "other", "-m", "exact", "-lower"], "قال : نعم .\n", "قال نعم\n")]


def test_meteor_1_5_errors_name_the_fix(fake_wheel, monkeypatch):
    monkeypatch.setattr(meteor_jar.shutil, "which", lambda name: None if name == "java" else f"/usr/bin/{name}")
    monkeypatch.setattr(fetch.os, "geteuid", lambda: 1000)
    with pytest.raises(DataError) as info:
        METRICS.get("meteor_1.5")(["a"], ["a"])
    assert str(info.value) == (
        "Java (for the METEOR 1.5 jar: meteor_1.5, meteor_coco) is not installed; run as root: apt-get update && "
        "apt-get install -y --no-install-recommends default-jre-headless")
    monkeypatch.setattr(meteor_jar.shutil, "which", lambda name: "/usr/bin/java")
    stderr = ('Exception in thread "main" java.lang.OutOfMemoryError: Java heap space\n'
              "\tat edu.cmu.meteor.scorer.MeteorScorer.<init>(Unknown Source)\n")
    monkeypatch.setattr(meteor_jar.subprocess, "run", lambda command, **kwargs:
                        subprocess.CompletedProcess(command, 1, "", stderr))
    with pytest.raises(SeqpipeError) as info:
        METRICS.get("meteor_1.5")(["a"], ["a"])
    assert str(info.value) == ('meteor_1.5: java failed (Exception in thread "main" '
                               "java.lang.OutOfMemoryError: Java heap space)")


def test_damaged_wheel_is_reported(fake_wheel):
    wheel = fake_wheel / "downloads" / meteor_jar.WHEEL
    wheel.write_bytes(b"not a wheel")
    with pytest.raises(DataError) as info:
        meteor_jar.prepare_meteor_jar()
    assert str(info.value) == (
        f"meteor_1.5: could not unpack {wheel} (File is not a zip file); "
        "delete the file and run again")




def test_java_is_installed_as_root_like_wordnet(monkeypatch, capsys):
    installed, commands = [], []

    def run(command, **kwargs):
        commands.append(command)
        installed.append(True)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(meteor_jar.shutil, "which", lambda name: "/usr/bin/java" if installed or name != "java"
                        else None)
    monkeypatch.setattr(fetch.os, "geteuid", lambda: 0)
    monkeypatch.delenv(fetch.NO_SYSTEM_INSTALL, raising=False)
    monkeypatch.setattr(fetch.subprocess, "run", run)
    assert meteor_jar.ensure_java() == "/usr/bin/java"
    assert commands == [["apt-get", "install", "-y", "--no-install-recommends", "default-jre-headless"]]
    assert capsys.readouterr().err.startswith(
        "seqpipe: Java (for the METEOR 1.5 jar: meteor_1.5, meteor_coco) is not installed; installing the Debian "
        "packages default-jre-headless")


def test_a_pipeline_prepares_the_metrics_it_reports_before_training(monkeypatch):
    called = []
    monkeypatch.setattr(METRICS.get("meteor_1.5"), "prepare", lambda: called.append("meteor_1.5"))
    prepare_metrics(["bleu", "meteor", "meteor_1.5", "meteor_1.5"])
    assert called == ["meteor_1.5"]
    assert [name for name in METRICS if getattr(METRICS.get(name), "prepare", None)] == ["meteor_1.5", "meteor_coco"]


def test_meteor_stems_in_the_texts_language_and_has_synonyms_in_english_only(fresh_meteor):
    fresh_meteor.setattr(wordnet, "load_wordnet", lambda: pytest.fail("WordNet is English only"))
    hypothesis, reference = ["Los gatos comían manzanas."], ["El gato come una manzana."]
    assert round(METRICS.get("meteor")(hypothesis, reference, language="es"), 4) == 0.6356  # gat, com, manzan
    assert meteor_backend("es") == (f"nltk {nltk.__version__} meteor_score, Snowball spanish stemmer, "
                                    "no synonyms (WordNet is English)")
    with pytest.raises(ValueError, match="^unknown language 'xx'; METEOR supports ar, da, de, en, es, fi, fr, hu, "
                                         "it, nl, no, pt, ro, ru, sv$"):
        METRICS.get("meteor")(hypothesis, reference, language="xx")


def test_the_languages_are_nltks_snowball_stemmers_and_the_jar_options_what_it_has_data_for():
    assert sorted(languages.SNOWBALL.values()) == sorted(set(nltk.stem.SnowballStemmer.languages) - {"porter"})
    assert {code: meteor_jar.command(code) for code in ("en", "es", "fr", "de", "ru", "it", "sv", "ar")} == {
        "en": '-l en -m "exact stem synonym paraphrase" -norm', "es": '-l es -m "exact stem" -norm',
        "fr": '-l fr -m "exact stem" -norm', "de": '-l de -m "exact stem" -norm', "ru": '-l ru -m "exact stem" -norm',
        "it": '-l it -m "exact stem" -lower', "sv": '-l se -m "exact stem" -lower', "ar": '-l other -m exact -lower'}
