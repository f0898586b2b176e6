"""The languages METEOR can score: ISO 639-1 codes, nltk's Snowball stemmer for each, and the METEOR 1.5 jar's
arguments for each.

A language is supported when nltk has a Snowball stemmer for it. The jar's arguments were found by running
``java -jar meteor-1.5.jar`` (its usage lists the languages; ``-l ar`` is unknown to it, only the transliterated
``ar-bw-red`` is) and by scoring with each: every language it names has a Snowball stemmer in the jar, English
alone has synonyms (WordNet, inside the jar) and a paraphrase table (the only one in the wheel), and ``-norm``
(tokenize and lower-case) exists for en, es, fr, de and ru only ("No normalizer for language" otherwise), so the
other languages are tokenized here and run with ``-lower``. Plain data: importing this module imports nothing.
"""

from __future__ import annotations

# ISO 639-1 code -> nltk.stem.SnowballStemmer's language name.
SNOWBALL = {
    "ar": "arabic", "da": "danish", "de": "german", "en": "english", "es": "spanish", "fi": "finnish",
    "fr": "french", "hu": "hungarian", "it": "italian", "nl": "dutch", "no": "norwegian", "pt": "portuguese",
    "ro": "romanian", "ru": "russian", "sv": "swedish",
}
LANGUAGES = tuple(sorted(SNOWBALL))  # the supported codes
DEFAULT_LANGUAGE = "en"

# ISO code -> the jar's -l code, for the languages the jar knows (the rest run as -l other: exact matches only).
JAR_CODES = {"da": "da", "de": "de", "en": "en", "es": "es", "fi": "fi", "fr": "fr", "hu": "hu", "it": "it",
             "nl": "nl", "no": "no", "pt": "pt", "ro": "ro", "ru": "ru", "sv": "se"}
JAR_NORMALIZES = ("de", "en", "es", "fr", "ru")  # the languages -norm works for


def check_language(language: str) -> str:
    """Return ``language`` if supported, else raise ValueError listing the supported codes."""
    if language not in SNOWBALL:
        raise ValueError(f"unknown language {language!r}; METEOR supports {', '.join(LANGUAGES)}")
    return language


def jar_arguments(language: str) -> list[str]:
    """The METEOR 1.5 jar's options for texts in ``language``: ``-l``, ``-m`` (the modules it has data for) and
    ``-norm``, or ``-lower`` where it has no normalizer (the texts are then tokenized before it reads them)."""
    code = JAR_CODES.get(check_language(language), "other")
    modules = ("exact stem synonym paraphrase" if language == "en" else "exact" if code == "other"
               else "exact stem")
    return ["-l", code, "-m", modules, "-norm" if language in JAR_NORMALIZES else "-lower"]
