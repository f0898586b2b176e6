"""The COCO caption scores: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D as pycocoevalcap 1.2 computes them.

Each metric is ``fn(hypotheses, references, language="en") -> float`` with several references per
example (``references[i]`` is the list of example i's references) and is flagged
``fn.several_references = True``. Every text is first tokenized as pycocoevalcap's ``PTBTokenizer``
does (:func:`coco_tokenize`), then:

- ``bleu_1`` .. ``bleu_4``: its ``bleu_scorer``, corpus-level: clipped n-gram counts against the
  per-n-gram maximum over the references, the "closest" reference length (ties: the shorter one) for
  the brevity penalty, and its constants ``tiny = 1e-15`` and ``small = 1e-9``;
- ``rouge_l``: the LCS F-measure with beta 1.2 of the best precision and best recall over the
  references (each maximised separately, as its code does), averaged over the examples;
- ``cider_d``: n-grams 1-4, TF-IDF vectors whose document frequencies are counted over the references
  of the scored set (``log(number of examples)`` the IDF numerator), clipped hypothesis weights, a
  Gaussian length penalty with sigma 6, averaged over n and references, times 10, then averaged over
  the examples (so a set of one example scores 0: every n-gram is in every "document");
- ``meteor_coco``: the METEOR 1.5 jar driven line by line as pycocoevalcap does
  (:mod:`seqpipe.metrics.caption_meteor`; needs Java).

All on pycocoevalcap's scale (0-1; CIDEr-D 0-10): papers usually print them times 100.
Pure Python and numpy; nltk only for the tokenizer.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from typing import Callable, Sequence

from seqpipe.metrics import meteor_jar
from seqpipe.metrics.registry import metric

# pycocoevalcap's PTBTokenizer drops these tokens after tokenizing (its PUNCTUATIONS). The bracket
# tokens never match there: the Stanford tokenizer lower-cases them (-lrb-), so they stay, as here.
PUNCTUATIONS = frozenset({"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-",
                          "--", "...", ";"})
# Characters the Stanford tokenizer (3.4.1, as pycocoevalcap runs it) rewrites to PTB tokens.
_UNICODE = str.maketrans({"\u201c": ' " ', "\u201d": ' " ', "\u2018": "'", "\u2019": "'", "\u2013": " -- ",
                          "\u2014": " -- ", "\u2026": " ... ", "\u00a0": " "})
# A word with a period stuck to it inside a text ("a dog. a cat"): the Stanford tokenizer splits it
# off unless the word is an abbreviation (below), one letter ("m.") or has periods inside ("u.s.").
_WORD_PERIOD = re.compile(r"^([^\W\d_][\w-]*[^\W_])\.$")
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "mt", "ft", "vs", "etc", "inc", "co",
                           "corp", "ltd", "no", "gen", "col", "capt", "sgt", "lt", "rev", "ave", "blvd", "jan",
                           "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"})
BLEU_ORDERS = 4
ROUGE_BETA = 1.2
CIDER_ORDERS, CIDER_SIGMA = 4, 6.0


@functools.cache
def _tokenizer():
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def coco_tokenize(text: str) -> str:
    """``text`` as pycocoevalcap's PTBTokenizer gives it: PTB tokens, lower case, its punctuation dropped,
    joined by single spaces.

    nltk's ``NLTKWordTokenizer`` (the Penn Treebank rules) stands in for the Stanford PTBTokenizer jar;
    on captions they agree (tests compare the two). Known differences, all rare in captions: runs of
    ``!`` or ``?`` ("!!!" stays one token there), ``@ # < >`` (split here, kept in the word there),
    ``+ = *`` inside a word (split there, kept here), ``'tis`` and ``'n'``, abbreviations outside
    :data:`ABBREVIATIONS` followed by a period inside a text (kept whole there), Stanford's British to
    American spellings (none in 3.4.1's default that pycocoevalcap runs).
    """
    text = " ".join(text.translate(_UNICODE).split()).lower()
    tokens = _tokenizer().tokenize(text, convert_parentheses=True)
    out = []
    for i, token in enumerate(tokens):
        match = _WORD_PERIOD.match(token) if i < len(tokens) - 1 else None
        if match and match.group(1) not in ABBREVIATIONS:
            out += [match.group(1), "."]
        else:
            out.append(token)
    return " ".join(t for t in (t.lower() for t in out) if t not in PUNCTUATIONS)


def check_sets(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> None:
    """Raise ValueError unless each hypothesis has a non-empty list of references, and there are some."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        raise ValueError("no captions to score")
    for i, refs in enumerate(references):
        if isinstance(refs, str) or not len(refs):
            raise ValueError(f"example {i}: expected a non-empty list of references; got {refs!r}")


def tokenize_sets(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    """Every hypothesis and reference through :func:`coco_tokenize`."""
    check_sets(hypotheses, references)
    return [coco_tokenize(h) for h in hypotheses], [[coco_tokenize(r) for r in refs] for refs in references]


def ngrams(words: list[str], n: int) -> Counter:
    """Counts of the 1- to n-grams of ``words`` (tuples)."""
    return Counter(tuple(words[i:i + k]) for k in range(1, n + 1) for i in range(len(words) - k + 1))


# -- BLEU ------------------------------------------------------------------------------------------------------------

def bleu_stats(hypotheses: list[str], references: list[list[str]], n: int = BLEU_ORDERS) -> list[list[int]]:
    """Per tokenized hypothesis, the counts pycocoevalcap's BLEU sums over the corpus: its length, the "closest"
    reference length, then the guessed and the correct (clipped) k-grams for k = 1..n."""
    rows = []
    for hyp, refs in zip(hypotheses, references):
        words = hyp.split()
        most: dict[tuple, int] = {}
        lengths = []
        for ref in refs:
            ref_words = ref.split()
            lengths.append(len(ref_words))
            for gram, count in ngrams(ref_words, n).items():
                most[gram] = max(most.get(gram, 0), count)
        correct = [0] * n
        for gram, count in ngrams(words, n).items():
            correct[len(gram) - 1] += min(most.get(gram, 0), count)
        closest = min((abs(length - len(words)), length) for length in lengths)[1]
        rows.append([len(words), closest, *(max(0, len(words) - k) for k in range(n)), *correct])
    return rows


def bleu_from_stats(sums: Sequence[float], n: int = BLEU_ORDERS) -> list[float]:
    """BLEU-1..n from the column sums of :func:`bleu_stats`, with pycocoevalcap's constants."""
    tiny, small = 1e-15, 1e-9
    test_total, ref_total, guess, correct = sums[0], sums[1], sums[2:2 + n], sums[2 + n:2 + 2 * n]
    scores, product = [], 1.0
    for k in range(n):
        product *= float(correct[k] + tiny) / (guess[k] + small)
        scores.append(product ** (1.0 / (k + 1)))
    ratio = (test_total + tiny) / (ref_total + small)
    if ratio < 1:
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores


def bleu_scores(hypotheses: list[str], references: list[list[str]], n: int = BLEU_ORDERS) -> list[float]:
    """Corpus BLEU-1..n of tokenized texts, as pycocoevalcap's ``Bleu(n)`` (option "closest")."""
    rows = bleu_stats(hypotheses, references, n)
    return bleu_from_stats([sum(column) for column in zip(*rows)] if rows else [0] * (2 + 2 * n), n)


# -- ROUGE-L ---------------------------------------------------------------------------------------------------------

def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l_scores(hypotheses: list[str], references: list[list[str]], beta: float = ROUGE_BETA) -> list[float]:
    """ROUGE-L of each tokenized hypothesis, as pycocoevalcap's ``Rouge`` (texts split on single spaces)."""
    scores = []
    for hyp, refs in zip(hypotheses, references):
        candidate = hyp.split(" ")
        precisions, recalls = [], []
        for ref in refs:
            tokens = ref.split(" ")
            lcs = lcs_length(tokens, candidate)
            precisions.append(lcs / float(len(candidate)))
            recalls.append(lcs / float(len(tokens)))
        p, r = max(precisions), max(recalls)
        scores.append((1 + beta ** 2) * p * r / float(r + beta ** 2 * p) if p != 0 and r != 0 else 0.0)
    return scores


# -- CIDEr-D ---------------------------------------------------------------------------------------------------------

def cider_d_scores(hypotheses: list[str], references: list[list[str]], n: int = CIDER_ORDERS,
                   sigma: float = CIDER_SIGMA) -> list[float]:
    """CIDEr-D of each tokenized hypothesis, as pycocoevalcap's ``Cider`` (document frequencies from these
    references)."""
    import numpy as np

    ref_counts = [[ngrams(ref.split(), n) for ref in refs] for refs in references]
    frequency: Counter = Counter()
    for counts in ref_counts:
        frequency.update({gram for ref in counts for gram in ref})
    log_docs = np.log(float(len(references)))

    def vector(counts: Counter):
        vec: list[dict] = [{} for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for gram, tf in counts.items():
            k = len(gram) - 1
            vec[k][gram] = float(tf) * (log_docs - np.log(max(1.0, frequency[gram])))
            norm[k] += vec[k][gram] ** 2
            if k == 1:  # as pycocoevalcap: the "length" is the number of bigrams
                length += tf
        return vec, [np.sqrt(x) for x in norm], length

    scores = []
    for hyp, counts in zip(hypotheses, ref_counts):
        vec, norm, length = vector(ngrams(hyp.split(), n))
        total = np.zeros(n)
        for ref in counts:
            vec_ref, norm_ref, length_ref = vector(ref)
            delta = float(length - length_ref)
            val = np.zeros(n)
            for k in range(n):
                for gram, weight in vec[k].items():
                    other = vec_ref[k].get(gram, 0.0)
                    val[k] += min(weight, other) * other
                if norm[k] != 0 and norm_ref[k] != 0:
                    val[k] /= norm[k] * norm_ref[k]
                val[k] *= np.e ** (-(delta ** 2) / (2 * sigma ** 2))
            total += val
        scores.append(float(np.mean(total)) / len(counts) * 10.0)
    return scores


# -- all at once, and the registered metrics -------------------------------------------------------------------------

CAPTION_METRICS = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor_coco", "rouge_l", "cider_d")


def caption_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]], metrics=CAPTION_METRICS,
                   language: str = "en", tokenized: bool = False) -> dict[str, float]:
    """The named COCO caption scores of raw texts (or, with ``tokenized``, of texts already tokenized as
    :func:`coco_tokenize` does), tokenizing once."""
    if tokenized:
        check_sets(hypotheses, references)
        hyps, refs = list(hypotheses), [list(r) for r in references]
    else:
        hyps, refs = tokenize_sets(hypotheses, references)
    result = {}
    if any(m.startswith("bleu_") for m in metrics):
        bleus = bleu_scores(hyps, refs)
        result.update({f"bleu_{k + 1}": bleus[k] for k in range(BLEU_ORDERS) if f"bleu_{k + 1}" in metrics})
    if "meteor_coco" in metrics:
        from seqpipe.metrics.caption_meteor import meteor_corpora

        result["meteor_coco"] = meteor_corpora([(hyps, refs)], language)[0]
    if "rouge_l" in metrics:
        result["rouge_l"] = float(sum(rouge_l_scores(hyps, refs)) / len(hyps))
    if "cider_d" in metrics:
        result["cider_d"] = float(sum(cider_d_scores(hyps, refs)) / len(hyps))
    return {m: float(result[m]) for m in metrics}


def _register(name: str, summary: str, prepare: Callable[[], None] | None = None) -> Callable:
    def score(hypotheses: Sequence[str], references: Sequence[Sequence[str]], language: str = "en") -> float:
        return caption_scores(hypotheses, references, (name,), language)[name]

    score.__name__ = score.__qualname__ = name
    score.__doc__ = f"{summary} (COCO caption evaluation, pycocoevalcap 1.2; several references per example)."
    score.several_references = True
    return metric(name, "texts", prepare)(score)


bleu_1 = _register("bleu_1", "Corpus BLEU-1, 0-1")
bleu_2 = _register("bleu_2", "Corpus BLEU-2, 0-1")
bleu_3 = _register("bleu_3", "Corpus BLEU-3, 0-1")
bleu_4 = _register("bleu_4", "Corpus BLEU-4, 0-1")
meteor_coco = _register("meteor_coco", "METEOR 1.5 over every reference, 0-1 (Java jar)", meteor_jar.prepare)
meteor_coco.languages = ("en",)  # pycocoevalcap runs the jar with -l en; the wheel has only English paraphrases
rouge_l = _register("rouge_l", "Mean ROUGE-L (beta 1.2, best precision and recall over the references), 0-1")
cider_d = _register("cider_d", "Mean CIDEr-D (n 1-4, sigma 6, IDF from the references), 0-10")


# -- resampled for confidence intervals and paired tests (seqpipe.metrics.resampling) ----------------------------


def _bleu_resampler(order: int) -> Callable:
    def make(hypotheses: Sequence[str], references: Sequence[Sequence[str]]):
        import numpy as np

        from seqpipe.metrics.resampling import Resampler

        hyps, refs = tokenize_sets(hypotheses, references)
        stats = np.asarray(bleu_stats(hyps, refs), "float64")
        return Resampler(stats, lambda sums: np.array([bleu_from_stats(row)[order - 1] for row in sums]))

    return make


def _mean_resampler(scores: Callable) -> Callable:
    def make(hypotheses: Sequence[str], references: Sequence[Sequence[str]]):
        from seqpipe.metrics.resampling import ratio

        hyps, refs = tokenize_sets(hypotheses, references)
        values = scores(hyps, refs)
        return ratio(values, [1.0] * len(values))

    return make


def _register_resamplers() -> None:
    """BLEU-n from the per-example counts; ROUGE-L and CIDEr-D as means of the per-example scores (CIDEr-D's
    document frequencies stay those of the whole set). METEOR's alignment statistics stay inside the jar: none."""
    from seqpipe.metrics.resampling import resampled

    for order in range(1, BLEU_ORDERS + 1):
        resampled(f"bleu_{order}")(_bleu_resampler(order))
    resampled("rouge_l")(_mean_resampler(rouge_l_scores))
    resampled("cider_d")(_mean_resampler(cider_d_scores))


_register_resamplers()
