"""Sequence-labelling metrics over tag strings: POS tags, BIO / IOBES entity tags.

Inputs are lists of sentences, each a list of tag strings; ``true[i]`` and ``pred[i]``
must have the same length. Padding never appears (callers strip it), so every token
counts once and no mask is needed.

Token level: :func:`token_accuracy`, :func:`tag_report`, :func:`tag_confusion`.
Span level (entities): :func:`spans` reads spans exactly as seqeval's ``get_entities``
does in its default (conlleval-compatible, non-strict) mode, and :func:`span_scores`
gives seqeval's micro-averaged precision, recall and F1 plus per-type rows. Spans are
read sentence by sentence, so a span never runs from one sentence into the next.

The registered metrics (kind ``"tag_sequences"``) are ``fn(true, pred) -> float``:
``token_accuracy``, ``span_precision``, ``span_recall``, ``span_f1`` and
``tag_macro_f1``. Undefined ratios are 0. sklearn and pandas are imported inside the
functions; seqeval is not used here (only by the tests).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from seqpipe.metrics.registry import metric

if TYPE_CHECKING:
    import pandas as pd

Sentences = Sequence[Sequence[str]]

SPAN_PREFIXES = ("B-", "I-", "E-", "S-")


def check_tags(true: Sentences, pred: Sentences) -> int:
    """Raise ValueError unless ``true`` and ``pred`` line up sentence by sentence; return the token count."""
    if len(true) != len(pred):
        raise ValueError(f"{len(true)} true sentences but {len(pred)} predicted sentences")
    for i, (t, p) in enumerate(zip(true, pred)):
        if len(t) != len(p):
            raise ValueError(f"sentence {i}: {len(t)} true tags but {len(p)} predicted tags")
    n_tokens = sum(len(t) for t in true)
    if n_tokens == 0:
        raise ValueError("no tokens to score")
    return n_tokens


def _flat(true: Sentences, pred: Sentences) -> tuple[list[str], list[str]]:
    check_tags(true, pred)
    return [tag for sentence in true for tag in sentence], [tag for sentence in pred for tag in sentence]


# --- token level -------------------------------------------------------------------


@metric("token_accuracy", "tag_sequences")
def token_accuracy(true: Sentences, pred: Sentences) -> float:
    """Share of tokens whose tag is right, over all tokens (every token weighs the same)."""
    n_tokens = check_tags(true, pred)
    correct = sum(t == p for ts, ps in zip(true, pred) for t, p in zip(ts, ps))
    return correct / n_tokens


def tag_report(true: Sentences, pred: Sentences, tags: list[str]) -> pd.DataFrame:
    """Token-level precision, recall, f1 and support per tag, in the order of ``tags``.

    Then rows ``micro avg``, ``macro avg`` and ``weighted avg`` over ``tags`` (sklearn's
    ``precision_recall_fscore_support``, ``zero_division=0``); their support is the total
    support of ``tags``. Tokens whose true and predicted tags are both outside ``tags``
    do not count.
    """
    import pandas as pd
    from sklearn.metrics import precision_recall_fscore_support

    y_true, y_pred = _flat(true, pred)
    labels = list(tags)

    def scores(average):
        return precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=average, zero_division=0)

    precision, recall, f1, support = scores(None)
    report = pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support},
        index=pd.Index(labels, name="tag"),
    )
    total = int(np.sum(support))
    for name, average in (("micro avg", "micro"), ("macro avg", "macro"), ("weighted avg", "weighted")):
        p, r, f, _ = scores(average)
        report.loc[name] = [p, r, f, total]
    return report.astype({"precision": "float64", "recall": "float64", "f1": "float64",
                          "support": "int64"})


def tag_confusion(true: Sentences, pred: Sentences, tags: list[str]) -> np.ndarray:
    """``len(tags) x len(tags)`` token counts; rows are true tags, columns predicted ones.

    Tokens whose true or predicted tag is not in ``tags`` are left out.
    """
    y_true, y_pred = _flat(true, pred)
    index = {tag: i for i, tag in enumerate(tags)}
    cm = np.zeros((len(tags), len(tags)), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        if t in index and p in index:
            cm[index[t], index[p]] += 1
    return cm


# --- spans ---------------------------------------------------------------------------


def _is_span_tag(tag: str) -> bool:
    return tag == "O" or (tag[:2] in SPAN_PREFIXES and len(tag) > 2)


def span_scheme(tags: Iterable[str] | Iterable[Sequence[str]]) -> str | None:
    """``"IOBES"``, ``"BIO"`` or None for a tag set (sentences of tags are flattened).

    A tag set is span-tagged when every tag is ``O`` or ``B-``/``I-``/``E-``/``S-``
    followed by a non-empty type, and at least one tag is ``B-`` or ``S-``. It is then
    IOBES when any tag starts with ``E-`` or ``S-``, else BIO. Anything else (POS tags,
    a bare ``B``, only ``O``, no tags) is None.
    """
    found = set()
    for item in tags:
        found.update([item] if isinstance(item, str) else item)
    if not found or not all(_is_span_tag(tag) for tag in found):
        return None
    prefixes = {tag[:2] for tag in found if tag != "O"}
    if not prefixes & {"B-", "S-"}:
        return None
    return "IOBES" if prefixes & {"E-", "S-"} else "BIO"


def _split(tag: str) -> tuple[str, str]:
    """seqeval's (prefix letter, type): ``B-PER`` -> (B, PER); ``O`` and ``B`` have type ``_``."""
    return tag[0], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """seqeval's end_of_chunk: a span ended just before the current tag."""
    return (
        prev_tag in ("E", "S")
        or (prev_tag in ("B", "I") and tag in ("B", "S", "O"))
        or (prev_tag not in ("O", ".") and prev_type != type_)
    )


def _starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """seqeval's start_of_chunk: a span starts at the current tag."""
    return (
        tag in ("B", "S")
        or (prev_tag in ("E", "S", "O") and tag in ("E", "I"))
        or (tag not in ("O", ".") and prev_type != type_)
    )


def spans(sequence: Sequence[str]) -> list[tuple[str, int, int]]:
    """The ``(type, start, end)`` spans of one sentence, ``end`` inclusive, in order.

    Same rules as seqeval's ``get_entities`` in default mode (conlleval's): ill-formed
    sequences are read leniently: an ``I-`` after ``O`` or after another type starts a
    span, an ``E-`` without ``B-`` is a span, a type change ends a span, and a span
    still open at the end of the sentence ends there.
    """
    prev_tag, prev_type, begin = "O", "", 0
    found = []
    for i, chunk in enumerate([*sequence, "O"]):
        tag, type_ = _split(chunk)
        if _ends(prev_tag, tag, prev_type, type_):
            found.append((prev_type, begin, i - 1))
        if _starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return found


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    denominator = precision + recall
    return 2 * precision * recall / denominator if denominator else 0.0


def _span_counts(true: Sentences, pred: Sentences) -> dict[str, tuple[int, int, int]]:
    """Per span type: (correct, predicted, true) span counts."""
    check_tags(true, pred)
    true_spans, pred_spans = set(), set()
    for i, (ts, ps) in enumerate(zip(true, pred)):
        true_spans.update((type_, i, start, end) for type_, start, end in spans(ts))
        pred_spans.update((type_, i, start, end) for type_, start, end in spans(ps))
    correct = Counter(span[0] for span in true_spans & pred_spans)
    n_pred = Counter(span[0] for span in pred_spans)
    n_true = Counter(span[0] for span in true_spans)
    return {type_: (correct[type_], n_pred[type_], n_true[type_])
            for type_ in sorted(n_true.keys() | n_pred.keys())}


def _scores(correct: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    precision, recall = _ratio(correct, n_pred), _ratio(correct, n_true)
    return precision, recall, _f1(precision, recall)


def _micro(counts: dict[str, tuple[int, int, int]]) -> tuple[float, float, float]:
    """Precision, recall and F1 over the spans of every type together."""
    return _scores(*([sum(column) for column in zip(*counts.values())] or [0, 0, 0]))


def span_scores(true: Sentences, pred: Sentences) -> dict:
    """Span precision, recall and F1, micro-averaged over all spans, plus ``per_type``.

    A predicted span is correct when a true span has the same type, start and end in
    the same sentence. ``per_type`` is a DataFrame indexed by the span types found in
    ``true`` or ``pred`` (sorted), with columns precision, recall, f1 and support (true
    spans). Equals seqeval's default-mode scores and classification_report.
    """
    import pandas as pd

    counts = _span_counts(true, pred)
    precision, recall, f1 = _micro(counts)
    rows = [[*_scores(*c), c[2]] for c in counts.values()]
    per_type = pd.DataFrame(rows, index=pd.Index(list(counts), name="type", dtype=object),
                            columns=["precision", "recall", "f1", "support"])
    per_type = per_type.astype({"precision": "float64", "recall": "float64", "f1": "float64",
                                "support": "int64"})
    return {"precision": precision, "recall": recall, "f1": f1, "per_type": per_type}


# --- registered metrics: fn(true, pred) -> float -------------------------------------


@metric("span_precision", "tag_sequences")
def span_precision(true: Sentences, pred: Sentences) -> float:
    """Share of predicted spans (type, start, end) that are true spans (seqeval default mode)."""
    return _micro(_span_counts(true, pred))[0]


@metric("span_recall", "tag_sequences")
def span_recall(true: Sentences, pred: Sentences) -> float:
    """Share of true spans (type, start, end) that are predicted (seqeval default mode)."""
    return _micro(_span_counts(true, pred))[1]


@metric("span_f1", "tag_sequences")
def span_f1(true: Sentences, pred: Sentences) -> float:
    """Micro-averaged span F1 (seqeval default mode, conlleval-compatible)."""
    return _micro(_span_counts(true, pred))[2]


@metric("tag_macro_f1", "tag_sequences")
def tag_macro_f1(true: Sentences, pred: Sentences) -> float:
    """Token-level F1 averaged over the tags found in true or predicted tags."""
    from sklearn.metrics import f1_score

    y_true, y_pred = _flat(true, pred)
    labels = sorted(set(y_true) | set(y_pred))
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
