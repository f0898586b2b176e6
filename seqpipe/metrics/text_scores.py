"""Translation metrics over plain (detokenized) sentences, one reference per hypothesis.

Each metric is ``fn(hypotheses, references, language="en") -> float``, ``language`` the ISO 639-1
code of the texts (:mod:`seqpipe.metrics.languages`). BLEU, chrF and TER are sacrebleu's corpus
scores with its default settings on its 0-100 scale, so they equal ``sacrebleu REF -i HYP -m bleu
chrf ter`` (they do not read the language); :func:`signatures` gives the settings to report.
METEOR is nltk's sentence score (0-1) averaged over the sentences, a fast approximation of the
reference METEOR 1.5 (``meteor_1.5``): it matches words exactly, by the language's Snowball stem
and, in English only, by WordNet synonym (WordNet is English).

sacrebleu, nltk and pandas are imported inside the functions.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import TYPE_CHECKING, Sequence

from seqpipe.errors import SeqpipeError
from seqpipe.metrics.languages import DEFAULT_LANGUAGE, SNOWBALL, check_language
from seqpipe.metrics.registry import metric

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SACREBLEU = {"bleu": "BLEU", "chrf": "CHRF", "ter": "TER"}  # our metric name -> sacrebleu class
TOKEN = re.compile(r"\w+|[^\w\s]")  # words and single punctuation marks, for METEOR


def check_pairs(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    """Raise ValueError unless there are as many hypotheses as references, and some."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        raise ValueError("no sentences to score")


def _sacrebleu(name: str, **options):
    import sacrebleu.metrics

    return getattr(sacrebleu.metrics, SACREBLEU[name])(**options)


def _corpus_score(name: str, hypotheses: Sequence[str], references: Sequence[str]) -> float:
    check_pairs(hypotheses, references)
    return float(_sacrebleu(name).corpus_score(list(hypotheses), [list(references)]).score)


@metric("bleu", "texts")
def bleu(hypotheses: Sequence[str], references: Sequence[str], language: str = DEFAULT_LANGUAGE) -> float:
    """Corpus BLEU, 0-100 (sacrebleu defaults: 13a tokens, case kept, exp smoothing)."""
    return _corpus_score("bleu", hypotheses, references)


@metric("chrf", "texts")
def chrf(hypotheses: Sequence[str], references: Sequence[str], language: str = DEFAULT_LANGUAGE) -> float:
    """Corpus chrF2, 0-100 (sacrebleu defaults: character 6-grams, no word n-grams)."""
    return _corpus_score("chrf", hypotheses, references)


@metric("ter", "texts")
def ter(hypotheses: Sequence[str], references: Sequence[str], language: str = DEFAULT_LANGUAGE) -> float:
    """Corpus TER, 0-100 and lower is better (sacrebleu defaults: tercom tokens, lower case)."""
    return _corpus_score("ter", hypotheses, references)


def signatures() -> dict[str, str]:
    """sacrebleu's signature of ``bleu``, ``chrf`` and ``ter`` as computed here."""
    result = {}
    for name in SACREBLEU:
        scorer = _sacrebleu(name)
        scorer.corpus_score(["x"], [["x"]])  # the signature names the reference count once scored
        result[name] = str(scorer.get_signature())
    return result


def sentence_scores(hypotheses: Sequence[str], references: Sequence[str]) -> pd.DataFrame:
    """One row per sentence: ``hypothesis``, ``reference``, ``bleu`` and ``chrf`` (0-100).

    Sentence BLEU uses effective n-gram orders, as sacrebleu advises for single sentences.
    """
    import pandas as pd

    check_pairs(hypotheses, references)
    scorers = {"bleu": _sacrebleu("bleu", effective_order=True), "chrf": _sacrebleu("chrf")}
    rows = [{"hypothesis": hyp, "reference": ref,
             **{name: scorer.sentence_score(hyp, [ref]).score for name, scorer in scorers.items()}}
            for hyp, ref in zip(hypotheses, references)]
    return pd.DataFrame(rows, columns=["hypothesis", "reference", *scorers])


class _NoSynonyms:
    """Stands in for WordNet when it cannot be had, or for a language it does not cover: no word has synonyms."""

    @staticmethod
    def synsets(word: str) -> list:
        return []


@functools.cache
def _wordnet():
    """``(reader, synonyms)``: WordNet, loaded once per process, or the announced stand-in; ``synonyms`` says
    which (the end of :func:`meteor_backend`)."""
    from seqpipe.metrics.wordnet import load_wordnet

    try:
        return load_wordnet(), "WordNet 3.0 synonyms"
    except (SeqpipeError, OSError, LookupError) as exc:
        reason = " ".join(str(exc).split())
        log.warning("METEOR WITHOUT WORDNET: matching exact words and stems only; scores can be "
                    "lower than, and are not comparable with, METEOR using WordNet (%s)", reason)
        return _NoSynonyms(), f"no synonyms (WordNet unavailable: {reason})"


def meteor_backend(language: str = DEFAULT_LANGUAGE) -> str:
    """How :func:`meteor` matches words in ``language``, to record with its scores.

    E.g. ``"nltk 3.9 meteor_score, Snowball spanish stemmer, no synonyms (WordNet is English)"``; in
    English ``"..., WordNet 3.0 synonyms"`` or, when WordNet could not be prepared, ``"..., no synonyms
    (WordNet unavailable: <reason>)"``. In English, prepares and loads WordNet on the first call.
    """
    import nltk

    head = f"nltk {nltk.__version__} meteor_score, Snowball {SNOWBALL[check_language(language)]} stemmer"
    if language != "en":
        return f"{head}, no synonyms (WordNet is English)"
    return f"{head}, {_wordnet()[1]}"


@functools.cache
def _stemmer(language: str):
    from nltk.stem import SnowballStemmer

    return SnowballStemmer(SNOWBALL[check_language(language)])


@metric("meteor", "texts")
def meteor(hypotheses: Sequence[str], references: Sequence[str], language: str = DEFAULT_LANGUAGE) -> float:
    """Mean sentence METEOR, 0-1 (nltk: exact, Snowball stem and, in English, WordNet synonym matches)."""
    check_pairs(hypotheses, references)
    from nltk.translate.meteor_score import meteor_score

    stemmer = _stemmer(language)
    wordnet = _wordnet()[0] if language == "en" else _NoSynonyms()
    # nltk wants token lists and lower-cases them itself (preprocess=str.lower).
    scores = [meteor_score([TOKEN.findall(ref)], TOKEN.findall(hyp), stemmer=stemmer, wordnet=wordnet)
              for hyp, ref in zip(hypotheses, references)]
    return sum(scores) / len(scores)
