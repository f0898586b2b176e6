"""Scores of generated texts against one or several references each (several: an image's captions).

Metrics flagged ``several_references`` (the COCO caption scores) get every example's references as they are.
Otherwise, with one reference per example these are the registered metrics themselves; with several, BLEU, chrF
and TER are sacrebleu's multi-reference corpus scores, METEOR takes each hypothesis' best reference (what METEOR
does with several), and any other metric scores against the first reference of each example.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqpipe.metrics.resampling import REFERENCE_SEPARATOR  # noqa: F401 (the tables' separator)
from seqpipe.metrics.text_scores import SACREBLEU  # corpus scores that take several references


def corpus_score(name: str, hypotheses: list[str], references: list[list[str]], language: str = "en") -> float:
    """Metric ``name`` of the hypotheses against every reference of their example; ``language``: the ISO 639-1
    code of the texts (``tokenize.language``), which METEOR reads."""
    from seqpipe.metrics import METRICS

    if getattr(METRICS.get(name), "several_references", False):  # e.g. the COCO caption scores
        return float(METRICS.get(name)(list(hypotheses), [list(refs) for refs in references], language=language))
    if all(len(refs) == 1 for refs in references):
        return float(METRICS.get(name)(list(hypotheses), [refs[0] for refs in references], language=language))
    if name in SACREBLEU:
        return float(_sacrebleu(name).corpus_score(list(hypotheses), _streams(references)).score)
    if name == "meteor":
        fn = METRICS.get(name)
        return float(np.mean([max(fn([hyp], [ref], language=language) for ref in refs)
                              for hyp, refs in zip(hypotheses, references)]))
    return float(METRICS.get(name)(list(hypotheses), [refs[0] for refs in references], language=language))


def _sacrebleu(name: str, **options):
    import sacrebleu.metrics

    return getattr(sacrebleu.metrics, SACREBLEU[name])(**options)


def _streams(references: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's reference streams: stream j holds each example's j-th reference (None where it has fewer)."""
    width = max(len(refs) for refs in references)
    return [[refs[j] if j < len(refs) else None for refs in references] for j in range(width)]


def sentence_scores(hypotheses: list[str], references: list[list[str]]) -> pd.DataFrame:
    """Per hypothesis: sentence BLEU (effective n-gram orders, as sacrebleu advises for single sentences) and
    chrF against all of its example's references."""
    scorers = {"bleu": _sacrebleu("bleu", effective_order=True), "chrf": _sacrebleu("chrf")}
    rows = [{name: scorer.sentence_score(hyp, list(refs)).score for name, scorer in scorers.items()}
            for hyp, refs in zip(hypotheses, references)]
    return pd.DataFrame(rows, columns=list(scorers))


def signatures(metrics: list[str], references: list[list[str]]) -> dict[str, str]:
    """sacrebleu's signatures of the corpus metrics among ``metrics`` as scored here (the number of references)."""
    tags = {}
    for name in [m for m in metrics if m in SACREBLEU]:
        scorer = _sacrebleu(name)
        scorer.corpus_score(["x"] * len(references), _streams(references) if references else [["x"]])
        tags[f"sacrebleu.{name}"] = str(scorer.get_signature())
    return tags
