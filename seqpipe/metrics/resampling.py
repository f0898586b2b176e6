"""Bootstrap resampling of test-set scores: confidence intervals and paired significance tests.

A metric is resampled from per-example *sufficient statistics*: a :class:`Resampler` holds one row of
statistics per example (correct tokens and tokens of a sentence; true positives, false positives and false
negatives per class; sacrebleu's n-gram counts) and the function that turns their column sums into the score.
A bootstrap sample of the test set then costs one sum, as in sacrebleu's ``significance`` module, whose
protocol this module follows: 1000 resamples, numpy's ``default_rng`` seeded with ``$SACREBLEU_SEED`` (12345),
the same resample indices for every system, the 95% interval read at the sorted scores ``n // 40`` and
``n - n // 40 - 1`` (:func:`sacrebleu.significance.estimate_ci`), and the p-value of the paired bootstrap
computed as sacrebleu computes it (:func:`paired_test`). BLEU, chrF and TER (:data:`SACREBLEU`) go through
sacrebleu's own code.

:data:`RESAMPLERS` maps a registered metric's name to ``fn(*the metric's inputs) -> Resampler`` (the same
inputs as the metric: class ids and the class count, tag lists, numbers, texts and references).
:func:`split_fingerprint` hashes the inputs and references of an evaluated split, so that runs scored on
different test sets are told apart. numpy only at import; sacrebleu is imported inside the functions.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqpipe.metrics.text_scores import SACREBLEU

SAMPLES = {"bs": 1000, "ar": 10000}  # sacrebleu's defaults: bootstrap resamples, approximate-randomization trials


def seed() -> int | None:
    """sacrebleu's seed: ``$SACREBLEU_SEED`` (``none``: unseeded), default 12345."""
    value = os.environ.get("SACREBLEU_SEED", "12345")
    return None if value.lower() == "none" else int(value)


@dataclass
class Resampler:
    """One metric's per-example statistics ``stats`` (examples x d) and ``score``: column sums (m x d) -> m scores.

    ``texts`` is set for the metrics sacrebleu computes: ``(sacrebleu metric object, hypotheses, references)``.
    """

    stats: np.ndarray
    score: Callable[[np.ndarray], np.ndarray]
    texts: tuple[Any, list[str], list[list[str]]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.stats)

    def value(self) -> float:
        """The metric on the whole test set."""
        return float(self.score(self.stats.sum(axis=0, keepdims=True))[0])

    def resampled(self, indices: np.ndarray, chunk: int = 100) -> np.ndarray:
        """The metric on each bootstrap sample (a row of ``indices``: example positions drawn with replacement)."""
        n = len(self.stats)
        out = []
        for start in range(0, len(indices), chunk):  # counts per example, then one matrix product per chunk
            counts = np.stack([np.bincount(row, minlength=n) for row in indices[start:start + chunk]])
            out.append(self.score(counts.astype("float64") @ self.stats))
        return np.concatenate(out) if out else np.zeros(0)


def ratio(numerator: Sequence[float], denominator: Sequence[float], scale: float = 1.0) -> Resampler:
    """A metric that is ``scale * sum(numerator) / sum(denominator)`` over the examples (0 where nothing counts)."""
    stats = np.column_stack([np.asarray(numerator, "float64"), np.asarray(denominator, "float64")])

    def score(sums: np.ndarray) -> np.ndarray:
        return scale * np.divide(sums[:, 0], sums[:, 1], out=np.zeros(len(sums)), where=sums[:, 1] != 0)

    return Resampler(stats, score)


def mean_log_prob_perplexity(log_probs: Sequence[float], tokens: Sequence[float]) -> Resampler:
    """Perplexity ``exp(-sum log p / sum tokens)`` from each text's log-probability (nats) and token count."""
    stats = np.column_stack([-np.asarray(log_probs, "float64"), np.asarray(tokens, "float64")])

    def score(sums: np.ndarray) -> np.ndarray:
        loss = np.divide(sums[:, 0], sums[:, 1], out=np.zeros(len(sums)), where=sums[:, 1] != 0)
        return np.exp(loss)

    return Resampler(stats, score)


# --- per-metric resamplers ----------------------------------------------------------------------------------

RESAMPLERS: dict[str, Callable[..., Resampler]] = {}


def resampled(name: str) -> Callable:
    """Decorator: ``fn(*inputs of metric name) -> Resampler`` is how ``name`` is resampled."""

    def add(fn: Callable[..., Resampler]) -> Callable[..., Resampler]:
        RESAMPLERS[name] = fn
        return fn

    return add


def _class_counts(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Per example: true positive, false positive and false negative indicators of every class (3 x classes)."""
    true, pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    eye = np.eye(n_classes)
    hit = (true == pred)[:, None]
    return np.hstack([eye[pred] * hit, eye[pred] * ~hit, eye[true] * ~hit])


def _per_class(kind: str, average: str) -> Callable[..., Resampler]:
    def make(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> Resampler:
        def score(sums: np.ndarray) -> np.ndarray:
            tp, fp, fn = (sums[:, i * n_classes:(i + 1) * n_classes] for i in range(3))
            num = {"f1": 2 * tp, "precision": tp, "recall": tp}[kind]
            den = {"f1": 2 * tp + fp + fn, "precision": tp + fp, "recall": tp + fn}[kind]
            per_class = np.divide(num, den, out=np.zeros_like(num), where=den != 0)
            if average == "weighted":
                support = tp + fn
                total = support.sum(axis=1)
                return np.divide((per_class * support).sum(axis=1), total, out=np.zeros(len(sums)),
                                 where=total != 0)
            return per_class.mean(axis=1)

        return Resampler(_class_counts(y_true, y_pred, n_classes), score)

    return make


@resampled("accuracy")
def _accuracy(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> Resampler:
    hits = np.asarray(y_true) == np.asarray(y_pred)
    return ratio(hits, np.ones(len(hits)))


resampled("macro_f1")(_per_class("f1", "macro"))
resampled("weighted_f1")(_per_class("f1", "weighted"))
resampled("macro_precision")(_per_class("precision", "macro"))
resampled("macro_recall")(_per_class("recall", "macro"))


@resampled("token_accuracy")
def _token_accuracy(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> Resampler:
    """Sentences are the resampled units: each counts its right tags and its tokens."""
    return ratio([sum(g == p for g, p in zip(gs, ps)) for gs, ps in zip(gold, pred)], [len(gs) for gs in gold])


@resampled("mse")
def _mse(y_true: Sequence[float], y_pred: Sequence[float]) -> Resampler:
    error = np.asarray(y_pred, "float64") - np.asarray(y_true, "float64")
    return ratio(error ** 2, np.ones(len(error)))


@resampled("mae")
def _mae(y_true: Sequence[float], y_pred: Sequence[float]) -> Resampler:
    error = np.asarray(y_pred, "float64") - np.asarray(y_true, "float64")
    return ratio(np.abs(error), np.ones(len(error)))


def sacrebleu_metric(name: str, references: list[list[str]]):
    """sacrebleu's metric object for ``name`` (default settings, as the registered metrics score), with the
    references cached: each example's references, ``None`` where an example has fewer than the most."""
    import sacrebleu.metrics

    width = max(len(refs) for refs in references)
    streams = [[refs[j] if j < len(refs) else None for refs in references] for j in range(width)]
    return getattr(sacrebleu.metrics, SACREBLEU[name])(references=streams)


def _texts(name: str) -> Callable[..., Resampler]:
    def make(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> Resampler:
        refs = [[r] if isinstance(r, str) else list(r) for r in references]
        metric = sacrebleu_metric(name, refs)
        stats = np.array(metric._extract_corpus_statistics(list(hypotheses), None), dtype="float64")

        def score(sums: np.ndarray) -> np.ndarray:
            return np.array([metric._compute_score_from_stats(row).score for row in sums])

        return Resampler(stats, score, texts=(metric, list(hypotheses), refs))

    return make


for _name in SACREBLEU:
    resampled(_name)(_texts(_name))


# --- intervals and paired tests ------------------------------------------------------------------------------


def indices(n: int, samples: int = SAMPLES["bs"], rng_seed: int | None = None) -> np.ndarray:
    """sacrebleu's bootstrap indices: ``samples`` rows of ``n`` example positions drawn with replacement."""
    rng = np.random.default_rng(seed() if rng_seed is None else rng_seed)
    return rng.choice(n, size=(samples, n), replace=True)


def interval(resampler: Resampler, samples: int = SAMPLES["bs"]) -> tuple[float, float]:
    """The bootstrap 95% interval of the metric: the sorted resampled scores at ``n // 40`` and ``n - n // 40 - 1``
    (where :func:`sacrebleu.significance.estimate_ci` reads them; sacrebleu reports half their distance)."""
    scores = np.sort(resampler.resampled(indices(len(resampler), samples)))
    low = len(scores) // 40
    return float(scores[low]), float(scores[len(scores) - low - 1])


def estimate_ci(scores: np.ndarray) -> tuple[float, float]:
    """``(mean, half width of the 95% interval)`` as sacrebleu computes them."""
    from sacrebleu.significance import estimate_ci as sacrebleu_ci

    mean, ci = sacrebleu_ci(np.asarray(scores, "float64"))
    return float(mean), float(ci)


def p_value(sample_statistics: np.ndarray, real_difference: float) -> float:
    """sacrebleu's p-value: (the samples whose statistic exceeds the real difference + 1) / (samples + 1)."""
    return (int(np.sum(sample_statistics > real_difference)) + 1) / (len(sample_statistics) + 1)


@dataclass
class Outcome:
    """A system's result in a paired test: its ``score``, the bootstrap ``mean`` and ``ci`` (half width of the
    95% interval; None after approximate randomization) and the ``p`` value against the baseline (None for it)."""

    score: float
    mean: float | None = None
    ci: float | None = None
    p: float | None = None


def paired_test(systems: Sequence[Resampler], test: str = "bs", samples: int | None = None) -> list[Outcome]:
    """Each system against ``systems[0]`` (the baseline) on the same test set.

    ``bs``: paired bootstrap resampling (sacrebleu's ``_paired_bs_test``): every system is scored on the same
    resamples; the statistic is the absolute score difference, centred on its mean over the resamples, and
    ``p`` is the share of resamples where it exceeds the real difference. ``ar``: paired approximate
    randomization (``_paired_ar_test``): each trial swaps a random half of the examples' outputs between the
    two systems. Metrics sacrebleu computes go through :class:`sacrebleu.significance.PairedTest` itself.

    One departure: a system whose per-example statistics equal the baseline's gets ``p = 1.0`` (sacrebleu's
    strict ``>`` gives such a pair its smallest p-value, 1 / (samples + 1)).
    """
    samples = samples or SAMPLES[test]
    if all(s.texts is not None for s in systems):
        outcomes = _sacrebleu_paired(systems, test, samples)
    else:
        outcomes = _numpy_paired(systems, test, samples)
    base = systems[0].stats
    for system, outcome in zip(systems[1:], outcomes[1:]):
        if system.stats.shape == base.shape and np.array_equal(system.stats, base):
            outcome.p = 1.0
    return outcomes


def _sacrebleu_paired(systems: Sequence[Resampler], test: str, samples: int) -> list[Outcome]:
    from sacrebleu.significance import PairedTest

    metric = systems[0].texts[0]
    named = [(str(i), s.texts[1]) for i, s in enumerate(systems)]
    _, scores = PairedTest(named, {"metric": metric}, references=None, test_type=test, n_samples=samples)()
    results = next(v for k, v in scores.items() if k != "System")
    def number(value):
        return None if value is None else float(value)

    return [Outcome(float(r.score), number(r.mean), number(r.ci), number(r.p_value)) for r in results]


def _numpy_paired(systems: Sequence[Resampler], test: str, samples: int) -> list[Outcome]:
    baseline, n = systems[0], len(systems[0])
    outcomes = [Outcome(baseline.value())]
    if test == "bs":
        idx = indices(n, samples)
        base_scores = baseline.resampled(idx)
        outcomes[0].mean, outcomes[0].ci = estimate_ci(base_scores)
    for system in systems[1:]:
        score = system.value()
        diff = abs(baseline.value() - score)
        if test == "bs":
            scores = system.resampled(idx)  # the same resamples as the baseline (sacrebleu reuses its seed)
            sample_diffs = np.abs(scores - base_scores)
            outcomes.append(Outcome(score, *estimate_ci(scores), p_value(sample_diffs - sample_diffs.mean(), diff)))
        else:
            rng = np.random.default_rng(seed())
            swap = rng.integers(2, size=(samples, n), dtype=bool).astype("float64")
            keep = 1.0 - swap
            a = system.score(swap @ baseline.stats + keep @ system.stats)
            b = system.score(keep @ baseline.stats + swap @ system.stats)
            outcomes.append(Outcome(score, p=p_value(np.abs(a - b), diff)))
    return outcomes


# --- what makes runs comparable ------------------------------------------------------------------------------

REFERENCE_SEPARATOR = " | "  # between an example's references in a written table


def cell_text(value: Any) -> str:
    """A table cell as the text a written table holds (lists joined by `` | ``), the same in memory and on disk."""
    if isinstance(value, (list, tuple)):
        return REFERENCE_SEPARATOR.join(map(str, value))
    return str(value)


def split_fingerprint(table, columns: Sequence[str]) -> str:
    """sha256 of the ``columns`` (inputs and references) of an evaluation table, row by row, in order."""
    digest = hashlib.sha256()
    for column in columns:
        digest.update(f"\x1e{column}\x1f".encode())
        for value in table[column]:
            digest.update(cell_text(value).encode("utf-8") + b"\x1f")
    return digest.hexdigest()
