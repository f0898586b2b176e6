"""Which way a metric improves, read from its name (for early stopping, sweeps and ``seqpipe compare``)."""

from __future__ import annotations

import re

# Metric-name words that mean "lower is better"; everything else (accuracy, bleu, f1, chrf, ...) is higher-better.
_LOWER_WORDS = frozenset({"loss", "perplexity", "ppl", "ter", "wer", "cer", "bits", "bpc", "mse", "rmse", "mae",
                          "error", "err", "time", "seconds"})
_WORD = re.compile(r"[a-z0-9]+")


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better: names with loss, perplexity, ter, bits, mse, ... in them.

    Words are matched whole (``test_ter``, ``valid_bits_per_char``), so ``parameters`` is not a TER;
    ``loss`` and ``perplexity`` also count inside a word (``valloss``). Any other name (accuracy, bleu,
    f1, chrf, meteor, ...) is taken as higher-better.
    """
    name = metric.lower()
    return "loss" in name or "perplexity" in name or any(w in _LOWER_WORDS for w in _WORD.findall(name))


def sort_direction(metric: str) -> str:
    """``"ascending"`` for lower-better metrics (see :func:`lower_is_better`), else ``"descending"``."""
    return "ascending" if lower_is_better(metric) else "descending"
