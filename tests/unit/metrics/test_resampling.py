"""Bootstrap intervals and paired tests (seqpipe.metrics.resampling) against sacrebleu and sklearn."""

from __future__ import annotations

import numpy as np
import pytest

from seqpipe.metrics import METRICS
from seqpipe.metrics.resampling import (
    RESAMPLERS,
    indices,
    interval,
    mean_log_prob_perplexity,
    paired_test,
    split_fingerprint,
)

WORDS = "the a cat dog sat ran on in mat park house big small red".split()


def texts(seed: int, n: int = 120):
    rng = np.random.default_rng(seed)
    references = [" ".join(rng.choice(WORDS, 8)) for _ in range(n)]

    def noisy(p):
        return [" ".join(w if rng.random() > p else str(rng.choice(WORDS)) for w in r.split()) for r in references]

    return references, noisy(0.25), noisy(0.4)


def labels(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    better = np.where(rng.random(n) < 0.9, y, rng.integers(0, 3, n))
    worse = np.where(rng.random(n) < 0.6, y, rng.integers(0, 3, n))
    return y, better, worse


@pytest.mark.parametrize("name", ["accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall"])
def test_label_resamplers_score_like_the_registered_metric_on_every_resample(name):
    y, pred, _ = labels(60)
    resampler = RESAMPLERS[name](y, pred, 4)  # class 3 never occurs: it counts as 0 in macro averages
    assert resampler.value() == pytest.approx(METRICS.get(name)(y, pred, 4))
    idx = indices(len(y), 5)
    for row, score in zip(idx, resampler.resampled(idx)):
        assert score == pytest.approx(METRICS.get(name)(y[row], pred[row], 4))


def test_token_accuracy_mse_mae_and_perplexity_resamplers_give_the_metric():
    gold, pred = [["A", "B"], ["C"], ["A", "A", "B"]], [["A", "A"], ["C"], ["A", "A", "A"]]
    assert RESAMPLERS["token_accuracy"](gold, pred).value() == pytest.approx(METRICS.get("token_accuracy")(gold, pred))
    true, predicted = [1.0, 2.0, 4.0], [1.5, 2.0, 3.0]
    for name in ("mse", "mae"):
        assert RESAMPLERS[name](true, predicted).value() == pytest.approx(METRICS.get(name)(true, predicted))
    log_probs, tokens = [-4.0, -6.0], [2, 3]
    assert mean_log_prob_perplexity(log_probs, tokens).value() == pytest.approx(np.exp(10 / 5))


@pytest.mark.parametrize("name", ["bleu", "chrf"])
def test_text_resamplers_follow_sacrebleu_paired_bootstrap_exactly(name):
    from sacrebleu.metrics import BLEU, CHRF
    from sacrebleu.significance import PairedTest

    references, first, second = texts(1)
    ours = paired_test([RESAMPLERS[name](h, [[r] for r in references]) for h in (first, second, first)], "bs")
    scorer = {"bleu": BLEU, "chrf": CHRF}[name](references=[references])
    _, scores = PairedTest([("a", first), ("b", second), ("c", first)], {"m": scorer}, references=None,
                           test_type="bs")()
    theirs = next(v for k, v in scores.items() if k != "System")
    for mine, sacre in zip(ours[:2], theirs[:2]):
        assert (mine.score, mine.mean, mine.ci, mine.p) == pytest.approx((sacre.score, sacre.mean, sacre.ci,
                                                                          sacre.p_value))
    assert ours[1].p < 0.05
    assert theirs[2].p_value == pytest.approx(1 / 1001) and ours[2].p == 1.0  # a system against itself: not < 0.05


def test_text_interval_uses_sacrebleu_bootstrap_and_brackets_the_score():
    from sacrebleu.significance import _bootstrap_resample

    references, first, _ = texts(2)
    resampler = RESAMPLERS["bleu"](first, [[r] for r in references])
    low, high = interval(resampler)
    _, scores = _bootstrap_resample(resampler.texts[0]._extract_corpus_statistics(first, None), resampler.texts[0])
    ordered = np.sort([s.score for s in scores])
    assert (low, high) == pytest.approx((ordered[25], ordered[1000 - 25 - 1]))
    assert low <= resampler.value() <= high


def test_label_paired_bootstrap_identical_better_and_reproducible(monkeypatch):
    y, better, worse = labels()
    systems = [RESAMPLERS["accuracy"](y, p, 3) for p in (better, better, worse)]
    base, same, other = paired_test(systems, "bs")
    assert base.p is None and base.mean == pytest.approx(base.score, abs=0.01)
    assert same.p == 1.0 and same.score == base.score
    assert other.p < 0.01 and other.score < base.score
    assert paired_test(systems, "bs")[2].p == other.p  # seeded: the same resamples every time
    assert paired_test(systems, "ar")[2].p < 0.01
    monkeypatch.setenv("SACREBLEU_SEED", "7")
    assert paired_test(systems, "bs")[2].mean != other.mean


def test_the_p_value_is_large_for_systems_that_differ_by_chance():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    a = np.where(rng.random(400) < 0.75, y, 1 - y)
    b = np.where(rng.random(400) < 0.75, y, 1 - y)
    _, outcome = paired_test([RESAMPLERS["accuracy"](y, a, 2), RESAMPLERS["accuracy"](y, b, 2)], "bs")
    assert abs(outcome.score - RESAMPLERS["accuracy"](y, a, 2).value()) < 0.05 and outcome.p > 0.05


def test_interval_brackets_the_metric_and_the_fingerprint_reads_inputs_and_references_only():
    import pandas as pd

    y, pred, _ = labels()
    low, high = interval(RESAMPLERS["macro_f1"](y, pred, 3))
    assert low < METRICS.get("macro_f1")(y, pred, 3) < high
    table = pd.DataFrame({"text": ["a", "b"], "refs": [["x", "y"], ["z"]], "predicted": ["p", "q"]})
    written = pd.DataFrame({"text": ["a", "b"], "refs": ["x | y", "z"], "predicted": ["other", "q"]})
    assert split_fingerprint(table, ["text", "refs"]) == split_fingerprint(written, ["text", "refs"])
    assert split_fingerprint(table, ["text"]) != split_fingerprint(table.iloc[::-1], ["text"])
