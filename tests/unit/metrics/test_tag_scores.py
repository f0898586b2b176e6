"""Tagging metrics against hand-computed values, seqeval (spans) and scikit-learn (tags)."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

from seqpipe.metrics import METRICS, metric_names
from seqpipe.metrics.tag_scores import (
    span_scheme,
    span_scores,
    spans,
    tag_confusion,
    tag_report,
    token_accuracy,
)

TYPES = ["PER", "LOC", "ORG"]


def seqeval_module():
    """seqeval's default-mode sequence_labeling functions (a test-only dependency: setup.cfg's test extra)."""
    from seqeval.metrics import sequence_labeling

    return sequence_labeling


def seqeval_scores(true, pred):
    """seqeval's micro precision/recall/f1 and classification_report dict, default mode."""
    sl = seqeval_module()
    with warnings.catch_warnings():  # undefined ratios and "not a NE tag" warnings
        warnings.simplefilter("ignore")
        return (
            float(sl.precision_score(true, pred)),
            float(sl.recall_score(true, pred)),
            float(sl.f1_score(true, pred)),
            sl.classification_report(true, pred, output_dict=True),
        )


def assert_span_scores_equal_seqeval(true, pred):
    ours = span_scores(true, pred)
    precision, recall, f1, report = seqeval_scores(true, pred)
    assert ours["precision"] == pytest.approx(precision, abs=1e-12)
    assert ours["recall"] == pytest.approx(recall, abs=1e-12)
    assert ours["f1"] == pytest.approx(f1, abs=1e-12)
    assert METRICS.get("span_precision")(true, pred) == ours["precision"]
    assert METRICS.get("span_recall")(true, pred) == ours["recall"]
    assert METRICS.get("span_f1")(true, pred) == ours["f1"]
    per_type = ours["per_type"]
    types = [key for key in report if not key.endswith(" avg")]
    assert list(per_type.index) == types  # sorted, from true or pred
    assert list(per_type.columns) == ["precision", "recall", "f1", "support"]
    for type_ in types:
        row, theirs = per_type.loc[type_], report[type_]
        assert row["precision"] == pytest.approx(float(theirs["precision"]), abs=1e-12)
        assert row["recall"] == pytest.approx(float(theirs["recall"]), abs=1e-12)
        assert row["f1"] == pytest.approx(float(theirs["f1-score"]), abs=1e-12)
        assert row["support"] == int(theirs["support"])
    assert int(per_type["support"].sum()) == int(report["micro avg"]["support"])


# --- spans(): explicit expectations for well- and ill-formed sentences -------------------

@pytest.mark.parametrize(
    "sequence, expected",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),  # span at 0, span to the end
        (["O", "I-PER", "I-PER", "O"], [("PER", 1, 2)]),  # I- after O starts a span
        (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 2)]),  # I- of another type
        (["B-PER", "B-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 2)]),
        (["O", "E-PER", "O"], [("PER", 1, 1)]),  # E- without B-
        (["B-PER", "I-PER", "E-PER", "E-PER"], [("PER", 0, 2), ("PER", 3, 3)]),
        (["B-PER", "S-PER", "E-PER"], [("PER", 0, 0), ("PER", 1, 1), ("PER", 2, 2)]),  # S- inside
        (["S-LOC", "S-LOC", "I-LOC"], [("LOC", 0, 0), ("LOC", 1, 1), ("LOC", 2, 2)]),
        (["B-ORG", "I-ORG", "I-ORG"], [("ORG", 0, 2)]),  # runs to the sentence end
        (["I-ORG"], [("ORG", 0, 0)]),
        (["O", "O"], []),
        ([], []),
        (["B-MISC-X", "I-MISC-X"], [("MISC-X", 0, 1)]),  # the type is everything after the first '-'
    ],
)
def test_spans_read_sentences_like_conlleval(sequence, expected):
    assert spans(sequence) == expected


def test_spans_equal_seqeval_get_entities_on_hand_written_sentences():
    sl = seqeval_module()
    for sequence, _ in HAND_WRITTEN_BIO + HAND_WRITTEN_IOBES:
        for sentence in sequence:
            assert spans(sentence) == sl.get_entities(sentence), sentence


# --- span_scores() against seqeval ------------------------------------------------------

HAND_WRITTEN_BIO = [
    (  # seqeval's docstring example
        [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]],
        [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]],
    ),
    (  # I- after O, I- of another type, span at 0, span to the end
        [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], ["O", "B-ORG", "I-ORG", "I-ORG"]],
        [["B-PER", "I-PER", "O", "I-LOC", "I-LOC"], ["O", "B-ORG", "I-PER", "I-ORG"]],
    ),
    (  # a true span at the end of a sentence, an I- of the same type opening the next one
        [["O", "B-PER", "I-PER"], ["I-PER", "O"], ["B-LOC"]],
        [["O", "B-PER", "I-PER"], ["I-PER", "O"], ["O"]],
    ),
    (  # nothing predicted
        [["B-PER", "O"], ["O", "B-LOC"]],
        [["O", "O"], ["O", "O"]],
    ),
    (  # nothing true
        [["O", "O", "O"]],
        [["B-PER", "I-LOC", "O"]],
    ),
    (  # no spans at all
        [["O", "O"], ["O"]],
        [["O", "O"], ["O"]],
    ),
]

HAND_WRITTEN_IOBES = [
    (
        [["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"], ["B-ORG", "E-ORG", "S-PER"]],
        [["S-PER", "O", "B-LOC", "E-LOC", "E-LOC"], ["B-ORG", "E-ORG", "S-PER"]],
    ),
    (  # E- without B-, S- inside a span, I- after S-
        [["B-PER", "I-PER", "E-PER", "O", "S-LOC"], ["O", "B-ORG", "I-ORG", "E-ORG"]],
        [["O", "I-PER", "E-PER", "O", "S-LOC"], ["O", "B-ORG", "S-ORG", "E-ORG"]],
    ),
    (  # a span running to the sentence end without E-, spans at position 0
        [["B-LOC", "I-LOC", "I-LOC"], ["S-PER", "I-PER"]],
        [["B-LOC", "I-LOC", "I-LOC"], ["S-PER", "I-PER"]],
    ),
    (  # E- of another type, B- right after B-
        [["B-PER", "E-PER", "B-LOC", "E-LOC"]],
        [["B-PER", "E-LOC", "B-LOC", "B-LOC"]],
    ),
]


@pytest.mark.parametrize("true, pred", HAND_WRITTEN_BIO + HAND_WRITTEN_IOBES)
def test_span_scores_equal_seqeval_on_hand_written_examples(true, pred):
    assert_span_scores_equal_seqeval(true, pred)


def test_span_scores_by_hand():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["S-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["S-ORG", "B-LOC"]]
    # true spans: PER(0,0-1) LOC(0,3-3) ORG(1,0-0); predicted: PER(0,0-1) ORG(1,0-0) LOC(1,1-1)
    scores = span_scores(true, pred)
    assert (scores["precision"], scores["recall"]) == (2 / 3, 2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)
    table = scores["per_type"]
    assert list(table.index) == ["LOC", "ORG", "PER"]
    assert table.to_dict("index") == {
        "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "ORG": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    }


def test_spans_of_different_sentences_never_merge():
    true = [["B-PER"], ["I-PER"]]  # two spans, not one running across sentences
    scores = span_scores(true, [["B-PER"], ["I-PER"]])
    assert scores["per_type"].loc["PER", "support"] == 2
    assert span_scores(true, [["B-PER"], ["O"]])["recall"] == 0.5


def test_no_spans_score_zero_with_an_empty_table():
    scores = span_scores([["O", "O"]], [["O", "O"]])
    assert (scores["precision"], scores["recall"], scores["f1"]) == (0.0, 0.0, 0.0)
    assert scores["per_type"].empty
    assert list(scores["per_type"].columns) == ["precision", "recall", "f1", "support"]


# --- random sentences (fixed seeds) -----------------------------------------------------

def random_sentence(rng: random.Random, scheme: str) -> list[str]:
    """A well-formed BIO or IOBES sentence of 1-15 tokens."""
    length = rng.randint(1, 15)
    tags: list[str] = []
    while len(tags) < length:
        if rng.random() < 0.5:
            tags.append("O")
            continue
        type_ = rng.choice(TYPES)
        size = min(rng.randint(1, 4), length - len(tags))
        if scheme == "BIO":
            tags += [f"B-{type_}"] + [f"I-{type_}"] * (size - 1)
        elif size == 1:
            tags.append(f"S-{type_}")
        else:
            tags += [f"B-{type_}"] + [f"I-{type_}"] * (size - 2) + [f"E-{type_}"]
    return tags


def corrupt(rng: random.Random, sentence: list[str], scheme: str) -> list[str]:
    """Replace about a fifth of the tags by any tag of the scheme (ill-formed sequences follow)."""
    prefixes = "BI" if scheme == "BIO" else "BIES"
    vocabulary = ["O"] + [f"{p}-{t}" for p in prefixes for t in TYPES]
    rate = rng.choice([0.0, 0.1, 0.2, 0.5])
    return [rng.choice(vocabulary) if rng.random() < rate else tag for tag in sentence]


def random_corpus(seed: int, scheme: str, n: int = 300) -> tuple[list[list[str]], list[list[str]]]:
    rng = random.Random(seed)
    true = [random_sentence(rng, scheme) for _ in range(n)]
    return true, [corrupt(rng, sentence, scheme) for sentence in true]


@pytest.mark.parametrize("scheme, seed", [("BIO", 0), ("BIO", 1), ("IOBES", 2), ("IOBES", 3)])
def test_span_scores_equal_seqeval_on_random_sentences(scheme, seed):
    true, pred = random_corpus(seed, scheme)
    assert_span_scores_equal_seqeval(true, pred)
    # and on small batches, where undefined ratios and missing types are common
    for start in range(0, 60, 3):
        assert_span_scores_equal_seqeval(true[start:start + 3], pred[start:start + 3])


@pytest.mark.parametrize("scheme, seed", [("BIO", 4), ("IOBES", 5)])
def test_spans_equal_seqeval_get_entities_on_random_sentences(scheme, seed):
    sl = seqeval_module()
    true, pred = random_corpus(seed, scheme)
    for sentence in true + pred:
        assert spans(sentence) == sl.get_entities(sentence), sentence


def test_spans_equal_seqeval_get_entities_on_arbitrary_tags():
    """Same reading as seqeval even for tags outside BIO/IOBES (bare B, POS-like, '.')."""
    sl = seqeval_module()
    rng = random.Random(6)
    vocabulary = ["O", "B", "I", "E", "S", "B-PER", "I-PER", "E-LOC", "S-LOC", "I-LOC",
                  "NOUN", "VERB", ".", ".-PER", "O-PER", "B-A-B", "X-PER"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(300):
            sentence = [rng.choice(vocabulary) for _ in range(rng.randint(0, 10))]
            assert spans(sentence) == sl.get_entities(sentence), sentence


# --- token level ------------------------------------------------------------------------

# flat true: DET NOUN VERB NOUN VERB
# flat pred: DET VERB VERB NOUN NOUN   -> 3 of 5 right
# DET : tp=1 fp=0 fn=0 -> P=1   R=1   F1=1   support 1
# NOUN: tp=1 fp=1 fn=1 -> P=1/2 R=1/2 F1=1/2 support 2
# VERB: tp=1 fp=1 fn=1 -> P=1/2 R=1/2 F1=1/2 support 2
# ADJ : never seen nor predicted -> 0, support 0
TRUE = [["DET", "NOUN", "VERB"], ["NOUN", "VERB"]]
PRED = [["DET", "VERB", "VERB"], ["NOUN", "NOUN"]]
TAGS = ["NOUN", "VERB", "DET", "ADJ"]


def test_token_accuracy_by_hand():
    assert token_accuracy(TRUE, PRED) == 3 / 5
    assert METRICS.get("token_accuracy")(TRUE, PRED) == 3 / 5
    assert token_accuracy(TRUE, TRUE) == 1.0


def test_token_accuracy_weighs_every_token_once():
    true = [["A"] * 9, ["A"]]
    pred = [["A"] * 9, ["B"]]  # sentence average would be (1 + 0) / 2
    assert token_accuracy(true, pred) == 9 / 10


def test_tag_report_by_hand():
    report = tag_report(TRUE, PRED, TAGS)
    assert list(report.index) == TAGS + ["micro avg", "macro avg", "weighted avg"]
    assert list(report.columns) == ["precision", "recall", "f1", "support"]
    assert report["support"].tolist() == [2, 2, 1, 0, 5, 5, 5]
    expected = {
        "NOUN": (0.5, 0.5, 0.5),
        "VERB": (0.5, 0.5, 0.5),
        "DET": (1.0, 1.0, 1.0),
        "ADJ": (0.0, 0.0, 0.0),
        "micro avg": (0.6, 0.6, 0.6),  # 3 right of 5 predicted, of 5 true
        "macro avg": (0.5, 0.5, 0.5),  # (1/2 + 1/2 + 1 + 0) / 4
        "weighted avg": (0.6, 0.6, 0.6),  # (2 * 1/2 + 2 * 1/2 + 1 * 1) / 5
    }
    for name, values in expected.items():
        assert report.loc[name, ["precision", "recall", "f1"]].tolist() == pytest.approx(values), name


def test_tag_confusion_by_hand():
    cm = tag_confusion(TRUE, PRED, TAGS)
    assert cm.shape == (4, 4)
    np.testing.assert_array_equal(cm, [
        [1, 1, 0, 0],  # NOUN: once right, once called VERB
        [1, 1, 0, 0],  # VERB: once right, once called NOUN
        [0, 0, 1, 0],  # DET
        [0, 0, 0, 0],  # ADJ
    ])


def test_tag_macro_f1_averages_over_tags_in_true_or_pred():
    # DET, NOUN and VERB occur; ADJ does not count
    assert METRICS.get("tag_macro_f1")(TRUE, PRED) == pytest.approx((1 + 0.5 + 0.5) / 3)
    # a tag only predicted counts with F1 0
    assert METRICS.get("tag_macro_f1")([["A", "A"]], [["A", "B"]]) == pytest.approx((2 / 3 + 0) / 2)


def random_pos(seed: int) -> tuple[list[list[str]], list[list[str]]]:
    rng = random.Random(seed)
    tags = ["NOUN", "VERB", "ADJ", "DET", "ADP", "PUNCT"]
    true = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(50)]
    pred = [[tag if rng.random() < 0.7 else rng.choice(tags) for tag in sentence] for sentence in true]
    return true, pred


def test_tag_report_equals_sklearn_classification_report():
    from sklearn.metrics import classification_report, f1_score

    true, pred = random_pos(7)
    flat_true = [tag for sentence in true for tag in sentence]
    flat_pred = [tag for sentence in pred for tag in sentence]
    for tags in (sorted(set(flat_true) | set(flat_pred)), ["VERB", "NOUN", "ADJ"]):
        ours = tag_report(true, pred, tags)
        theirs = classification_report(flat_true, flat_pred, labels=tags, output_dict=True,
                                       zero_division=0)
        for name in tags + ["macro avg", "weighted avg"]:
            assert ours.loc[name, ["precision", "recall", "f1"]].tolist() == pytest.approx(
                [theirs[name]["precision"], theirs[name]["recall"], theirs[name]["f1-score"]]), name
            assert ours.loc[name, "support"] == theirs[name]["support"]
        # sklearn writes "accuracy" instead of "micro avg" when the labels cover every tag
        micro = theirs.get("micro avg", {}).get("f1-score", theirs.get("accuracy"))
        assert ours.loc["micro avg", "f1"] == pytest.approx(micro)
    all_tags = sorted(set(flat_true) | set(flat_pred))
    assert token_accuracy(true, pred) == pytest.approx(tag_report(true, pred, all_tags).loc["micro avg", "f1"])
    assert METRICS.get("tag_macro_f1")(true, pred) == pytest.approx(f1_score(flat_true, flat_pred, average="macro"))


def test_tag_confusion_equals_sklearn_confusion_matrix():
    from sklearn.metrics import confusion_matrix

    true, pred = random_pos(8)
    flat_true = [tag for sentence in true for tag in sentence]
    flat_pred = [tag for sentence in pred for tag in sentence]
    tags = ["VERB", "NOUN", "ADJ", "DET", "ADP", "PUNCT"]
    np.testing.assert_array_equal(tag_confusion(true, pred, tags),
                                  confusion_matrix(flat_true, flat_pred, labels=tags))


# --- span_scheme ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "tags, expected",
    [
        (["NOUN", "VERB", "DET", "PUNCT"], None),
        (["B"], None),
        (["O"], None),
        ([], None),
        (["O", "I-PER", "I-LOC"], None),  # no B- nor S-
        (["O", "B-"], None),  # no type
        (["O", "B-PER", "NOUN"], None),
        (["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], "BIO"),
        (["B-PER"], "BIO"),
        (["O", "B-PER", "I-PER", "E-PER", "S-PER"], "IOBES"),
        (["O", "S-LOC"], "IOBES"),
        ([["O", "B-PER"], ["I-PER", "E-PER"]], "IOBES"),  # sentences are flattened
    ],
)
def test_span_scheme(tags, expected):
    assert span_scheme(tags) == expected


# --- errors and registration ------------------------------------------------------------

FUNCTIONS = {
    "token_accuracy": token_accuracy,
    "tag_report": lambda t, p: tag_report(t, p, ["O"]),
    "tag_confusion": lambda t, p: tag_confusion(t, p, ["O"]),
    "span_scores": span_scores,
    **{name: METRICS.get(name) for name in ("span_f1", "span_precision", "span_recall", "tag_macro_f1")},
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_length_mismatch_names_the_sentence(name):
    fn = FUNCTIONS[name]
    with pytest.raises(ValueError, match=r"^sentence 1: 1 true tags but 2 predicted tags$"):
        fn([["O", "O"], ["O"]], [["O", "O"], ["O", "O"]])
    with pytest.raises(ValueError, match=r"^2 true sentences but 1 predicted sentences$"):
        fn([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match=r"^no tokens to score$"):
        fn([[]], [[]])


def test_tagging_metrics_are_registered_with_the_kind_they_score():
    assert metric_names("tag_sequences") == ["span_f1", "span_precision", "span_recall", "tag_macro_f1",
                                       "token_accuracy"]
    assert METRICS.get("token_accuracy") is token_accuracy
    assert METRICS.describe("span_f1") == "Micro-averaged span F1 (seqeval default mode, conlleval-compatible)."
