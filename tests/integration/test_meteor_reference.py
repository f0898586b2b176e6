"""``meteor`` (nltk) and ``meteor_1.5`` (the METEOR 1.5 jar, the reference) on fixed English and Spanish sentences.

Runs in the default suite: it needs Java (installed with apt-get as root, as ``meteor_1.5`` does), WordNet (for
English ``meteor``) and ``pip download pycocoevalcap==1.2`` (the jar, about 100 MB, fetched once into the seqpipe
cache from the package registry).

Why the two numbers differ (English 0.7345 vs 0.4335, Spanish 0.7087 vs 0.6234): ``meteor`` is the mean of nltk's
sentence scores with nltk's parameters (alpha 0.9, beta 3, gamma 0.5: a fragmentation penalty of at most 0.5 x
(chunks/matches)^3, small for short sentences), every word weighted alike and no paraphrase table; ``meteor_1.5``
is one corpus score from summed statistics with METEOR 1.5's parameters tuned on human rankings per language
(English alpha 0.85, beta 0.2, gamma 0.6, delta 0.75 with weights exact 1, stem 0.6, synonym 0.8, paraphrase 0.6;
Spanish 0.65, 1.3, 0.5, 0.8 with exact 1, stem 0.8): beta 0.2 makes every break in word order cost a lot, and
delta weights content words above function words. So ``meteor`` is a fast approximation for watching runs, and
``meteor_1.5`` with its arguments is the number to quote.
"""

from __future__ import annotations

import pytest

from seqpipe.metrics import METRICS, meteor_backend, meteor_jar

ENGLISH = [  # (hypothesis, reference)
    ("The cat sat on the mat.", "The cat was sitting on the mat."),
    ("He bought a new car yesterday.", "Yesterday he purchased a new automobile."),
    ("The children are playing in the garden.", "The kids were playing in the garden."),
    ("She walked quickly to the station.", "She hurried to the train station."),
    ("The weather is very cold today.", "It is extremely cold today."),
    ("They discussed the problem for hours.", "They were discussing the issue for hours."),
    ("I have never seen such a big dog.", "I have never seen a dog that large."),
    ("The meeting starts at nine o'clock.", "The meeting begins at nine."),
]
SPANISH = [  # (hypothesis, reference)
    ("El gato se sentó en la alfombra.", "El gato estaba sentado en la alfombra."),
    ("Ayer compró un coche nuevo.", "Ayer se compró un automóvil nuevo."),
    ("Los niños juegan en el jardín.", "Los niños estaban jugando en el jardín."),
    ("Ella caminó rápidamente a la estación.", "Ella fue deprisa a la estación de tren."),
    ("Hoy hace mucho frío.", "Hoy hace un frío tremendo."),
    ("Discutieron el problema durante horas.", "Estuvieron discutiendo el problema durante horas."),
    ("Nunca he visto un perro tan grande.", "Nunca había visto un perro tan grande."),
    ("La reunión empieza a las nueve.", "La reunión comienza a las nueve en punto."),
]
# language, sentences, meteor, meteor_1.5, how meteor matched (after the nltk version), the jar's arguments
PINNED = [
    ("en", ENGLISH, 0.7345, 0.4335, "Snowball english stemmer, WordNet 3.0 synonyms",
     '-l en -m "exact stem synonym paraphrase" -norm'),
    ("es", SPANISH, 0.7087, 0.6234, "Snowball spanish stemmer, no synonyms (WordNet is English)",
     '-l es -m "exact stem" -norm'),
]


@pytest.fixture
def wordnet_loaded(fresh_meteor):
    """English ``meteor`` with WordNet (the ``wordnet`` marker prepared it in the cache)."""
    assert meteor_backend("en").endswith("WordNet 3.0 synonyms")


@pytest.mark.java
@pytest.mark.wordnet
@pytest.mark.parametrize("language, pairs, nltk_score, jar_score, backend, arguments", PINNED,
                         ids=[row[0] for row in PINNED])
def test_meteor_and_the_reference_jar_per_language(wordnet_loaded, language, pairs, nltk_score, jar_score,
                                                   backend, arguments):
    hypotheses, references = map(list, zip(*pairs))
    assert METRICS.get("meteor")(hypotheses, references, language=language) == pytest.approx(nltk_score, abs=1e-4)
    assert METRICS.get("meteor_1.5")(hypotheses, references, language=language) == pytest.approx(jar_score, abs=1e-4)
    assert meteor_backend(language).split(", ", 1)[1] == backend
    assert meteor_jar.command(language) == arguments


@pytest.mark.java
def test_the_jar_runs_with_the_modules_it_has_data_for():
    """What the jar prints about itself: Spanish stems with Spanish parameters; Italian (no -norm in the jar) is
    tokenized here and lower-cased by the jar; Arabic (unknown to the jar) matches exact words only."""
    report = meteor_jar.run_meteor_jar(["Los gatos comen."], ["El gato come."], "es")
    assert "Language:       Spanish" in report and "Modules:        exact stem\n" in report
    report = meteor_jar.run_meteor_jar(["I gatti mangiano."], ["Il gatto mangia."], "it")
    assert "Language:       Italian" in report and "Modules:        exact stem\n" in report
    report = meteor_jar.run_meteor_jar(["القطط تأكل"], ["القط يأكل"], "ar")
    assert "Language:       Other" in report and "Modules:        exact\n" in report
