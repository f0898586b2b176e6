"""METEOR of the COCO caption evaluation: the METEOR 1.5 jar in ``-stdio`` mode, driven as pycocoevalcap does.

pycocoevalcap 1.2 (``meteor/meteor.py``) starts ``java -jar -Xmx2G meteor-1.5.jar - - -stdio -l en -norm``
and, per example, writes ``SCORE ||| ref 1 ||| ... ||| ref n ||| hypothesis`` and reads back one line of
statistics; then one ``EVAL ||| stats 1 ||| ... ||| stats N`` line gives N segment scores and the corpus
score, which is the figure it reports. :func:`meteor_corpora` does exactly that, for several corpora in one
Java process (the jar takes seconds to load its paraphrase table). The jar comes from
:func:`seqpipe.metrics.meteor_jar.prepare_meteor_jar`.
"""

from __future__ import annotations

import subprocess
from typing import Sequence

from seqpipe.errors import SeqpipeError

SEPARATOR = "|||"


def meteor_command(java: str, jar: str, language: str = "en") -> list[str]:
    """pycocoevalcap's command line (``-Xmx2G`` after ``-jar`` is still a JVM option)."""
    return [java, "-jar", "-Xmx2G", jar, "-", "-", "-stdio", "-l", language, "-norm"]


def _clean(text: str) -> str:
    """One line with no ``|||`` (pycocoevalcap cleans the hypothesis so; references too here, or a ``|||``
    in one would shift the fields)."""
    return " ".join(text.replace(SEPARATOR, "").split())


def meteor_corpora(corpora: Sequence[tuple[Sequence[str], Sequence[Sequence[str]]]],
                   language: str = "en") -> list[float]:
    """The corpus METEOR of each ``(hypotheses, references)`` pair (texts tokenized as pycocoevalcap's
    PTBTokenizer gives them), all through one jar process."""
    from seqpipe.metrics.meteor_jar import ensure_java, prepare_meteor_jar

    if language != "en":
        raise SeqpipeError(f"meteor_coco scores English (pycocoevalcap runs METEOR with -l en and the wheel has "
                           f"only the English paraphrase table); got language '{language}'")
    java = ensure_java()
    jar = prepare_meteor_jar()
    process = subprocess.Popen(meteor_command(java, jar.name, language), cwd=jar.parent, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")

    def ask(line: str) -> str:
        process.stdin.write(line + "\n")
        process.stdin.flush()
        answer = process.stdout.readline()
        if not answer:
            process.kill()
            lines = [x.strip() for x in process.stderr.read().splitlines() if x.strip()]
            reason = next((x for x in lines if "Exception" in x or "Error" in x), lines[-1] if lines else "no output")
            raise SeqpipeError(f"meteor_coco: java stopped ({reason})")
        return answer.strip()

    scores = []
    try:
        for hypotheses, references in corpora:
            stats = [ask(" ||| ".join(["SCORE", *(_clean(r) for r in refs), _clean(hyp)]))
                     for hyp, refs in zip(hypotheses, references)]
            ask(" ||| ".join(["EVAL", *stats]))  # the first of N segment scores; the corpus score comes last
            for _ in range(len(stats) - 1):
                process.stdout.readline()
            scores.append(float(process.stdout.readline().strip()))
    finally:
        if process.poll() is None:
            process.stdin.close()
            process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            stream.close()
    return scores
