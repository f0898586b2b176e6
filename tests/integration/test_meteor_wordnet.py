"""METEOR with WordNet (Debian's wordnet-base, installed with apt-get as root) and the METEOR 1.5 jar (Java).

These need apt, WordNet or Java: they carry the marker of what they need and fail, naming the missing piece,
when it cannot be had (they never skip).
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import pytest

from seqpipe.errors import DataError
from seqpipe.metrics import METRICS, meteor_backend, meteor_jar, wordnet
from tests.unit.metrics.test_text_scores import METEOR_EXAMPLES, SYNONYMS


@pytest.fixture(scope="session")
def wordnet_cache(tmp_path_factory):
    """A cache with WordNet prepared once per session (installed with apt-get if root may)."""
    cache = tmp_path_factory.mktemp("wordnet-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQPIPE_CACHE", str(cache))
        try:
            wordnet.prepare_wordnet()
        except DataError as exc:
            pytest.fail(f"WordNet cannot be had: {exc}")
    return cache


@pytest.fixture
def with_wordnet(wordnet_cache, fresh_meteor):
    fresh_meteor.setenv("SEQPIPE_CACHE", str(wordnet_cache))
    assert meteor_backend().endswith(", WordNet 3.0 synonyms")


@pytest.mark.wordnet
@pytest.mark.parametrize("hypothesis, reference, expected", METEOR_EXAMPLES)
def test_meteor_reproduces_nltk_examples(with_wordnet, hypothesis, reference, expected):
    assert round(METRICS.get("meteor")([hypothesis], [reference]), 4) == expected


@pytest.mark.wordnet
def test_meteor_averages_sentences_and_matches_synonyms(with_wordnet):
    hypotheses, references, expected = zip(*METEOR_EXAMPLES)
    mean = METRICS.get("meteor")(list(hypotheses), list(references))
    assert mean == pytest.approx(sum(expected) / len(expected), abs=1e-4)
    assert round(METRICS.get("meteor")(*SYNONYMS), 4) == 0.9922


@pytest.mark.wordnet
def test_wordnet_files_are_copies_with_lexnames(wordnet_cache, with_wordnet):
    from nltk.corpus import wordnet as nltk_wordnet

    folder = wordnet_cache / "nltk_data" / "corpora" / "wordnet"
    assert sorted(path.name for path in folder.iterdir()) == sorted([*wordnet.FILES, "lexnames"])
    assert not any(path.is_symlink() for path in folder.iterdir())
    assert (folder / "lexnames").read_text(encoding="utf-8") == wordnet.lexnames()
    assert [nltk_wordnet.synset(name).lexname() for name in ("dog.n.01", "run.v.01", "big.a.01")] \
        == ["noun.animal", "verb.motion", "adj.all"]


@pytest.mark.network
@pytest.mark.java
def test_meteor_1_5_for_real(tmp_path, monkeypatch):
    """Downloads the wheel (100 MB) and runs the jar; needs Java."""
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path))
    hypotheses, references, _ = zip(*METEOR_EXAMPLES[:1], *METEOR_EXAMPLES[3:5])
    report = meteor_jar.run_meteor_jar([*hypotheses, *SYNONYMS[0]], [*references, *SYNONYMS[1]])
    # The values `java -Xmx2G -jar meteor-1.5.jar hyp ref -l en -norm` prints for these lines (the same as with
    # the explicit `-m "exact stem synonym paraphrase"` that meteor_1.5 passes: those are English's defaults).
    assert re.findall(r"Segment \d+ score:\t(\S+)", report) == [
        "0.44736091739438233", "1.0", "0.4776696620223255", "0.9249999999999999"]
    assert METRICS.get("meteor_1.5")([*hypotheses, *SYNONYMS[0]],
                                     [*references, *SYNONYMS[1]]) == 0.503185843639056


@pytest.mark.network
@pytest.mark.apt
def test_wordnet_prepared_for_real_matches_the_manual(tmp_path, monkeypatch):
    """Installs WordNet with apt-get when missing (as root) and checks lexnames(5WN)."""
    monkeypatch.setenv("SEQPIPE_CACHE", str(tmp_path))
    root = wordnet.prepare_wordnet()
    manual = Path("/usr/share/man/man5/lexnames.5WN.gz")
    assert manual.is_file(), f"{manual} is not installed (man pages excluded?): the check needs it"
    rows = re.findall(r"^(\d\d)\t(\S+)\s*\t", gzip.decompress(manual.read_bytes()).decode(),
                      re.MULTILINE)
    category = {"noun": "1", "verb": "2", "adj": "3", "adv": "4"}
    expected = "".join(f"{n}\t{name}\t{category[name.split('.')[0]]}\n" for n, name in rows)
    assert (root / "corpora" / "wordnet" / "lexnames").read_text(encoding="utf-8") == expected
    assert os.path.getsize(root / "corpora" / "wordnet" / "data.noun") > 15_000_000
