"""WordNet 3.0 for nltk without ``nltk.download``: Debian's dictionary files in the cache.

``<cache>/nltk_data/corpora/wordnet`` holds copies of the files nltk's WordNet reader
opens, taken from the Debian packages ``wordnet-base`` and ``wordnet-sense-index``
(installed with apt-get when missing and running as root), plus a generated
``lexnames`` file, which Debian does not ship.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from seqpipe.data.cache import cache_dir, file_lock
from seqpipe.data.recipes.fetch import apt_install

DEBIAN_DIR = Path("/usr/share/wordnet")
PACKAGES = ("wordnet-base", "wordnet-sense-index")
FILES = (
    "adj.exc", "adv.exc", "noun.exc", "verb.exc", "cntlist.rev", "index.sense",
    "data.adj", "data.adv", "data.noun", "data.verb",
    "index.adj", "index.adv", "index.noun", "index.verb",
)
# The lexicographer files in number order, as listed in lexnames(5WN).
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event",
    "noun.feeling", "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object",
    "noun.person", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
    "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition",
    "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather",
    "adj.ppl",
)


def lexnames() -> str:
    """The ``lexnames`` file: ``NN<TAB>name<TAB>category`` (1 noun, 2 verb, 3 adj, 4 adv)."""
    category = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
    return "".join(f"{number:02d}\t{name}\t{category[name.split('.')[0]]}\n"
                   for number, name in enumerate(LEXNAMES))


def prepare_wordnet() -> Path:
    """Return ``<cache>/nltk_data`` with ``corpora/wordnet`` in it, building that if needed.

    Raises DataError (naming the apt-get command) when the Debian files are missing and
    cannot be installed.
    """
    root = cache_dir() / "nltk_data"
    target = root / "corpora" / "wordnet"
    with file_lock(target):
        if not all((target / name).is_file() for name in (*FILES, "lexnames")):
            if not all((DEBIAN_DIR / name).is_file() for name in FILES):
                apt_install(PACKAGES, f"WordNet 3.0 ({DEBIAN_DIR}) is")
            partial = target.with_name("wordnet.partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            for name in FILES:
                shutil.copyfile(DEBIAN_DIR / name, partial / name)
            (partial / "lexnames").write_text(lexnames(), encoding="utf-8")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(partial, target)
    return root


def load_wordnet():
    """Prepare WordNet, put its folder first on nltk's data path, return nltk's loaded reader."""
    import nltk
    from nltk.corpus import wordnet

    root = str(prepare_wordnet())
    if root not in nltk.data.path:
        nltk.data.path.insert(0, root)
    wordnet.ensure_loaded()
    return wordnet
